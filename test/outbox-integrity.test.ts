/**
 * Outbox integrity on a real file system (issue 16, finding 6): per-record checksums, corrupt
 * records set aside and counted (never delivered, never re-sequenced), seq never reused after the
 * log is emptied, lost or forged, and a corrupt state.json recovered from the log.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Outbox, SEQ_BLOCK } from '../device/outbox.js';
import { entryLine } from '../device/outbox-records.js';
import { cleanup, range, tempDir } from './helpers/mqtt-harness.js';

const dirs: string[] = [];
after(() => cleanup(...dirs));
function dir() {
  const d = tempDir('box-int');
  dirs.push(d);
  return d;
}
const score = (seq: number) => JSON.stringify({ seq, score: 0.123456 });

/** An outbox with entries 1..n pending (closed), and a way to reopen it collecting warnings. */
function filled(n: number) {
  const d = dir();
  const a = new Outbox({ dir: d, fsync: 'never' });
  for (const _ of range(n)) a.append('t/results', score);
  a.close();
  const open = () => {
    const warnings: string[] = [];
    const box = new Outbox({ dir: d, fsync: 'never', onWarning: (m) => warnings.push(m) });
    return { box, warnings };
  };
  const log = join(d, 'log');
  return { d, log, open };
}

test('flipped digits in a score: that record is set aside, counted, reported; the rest is delivered', () => {
  const { d, log, open } = filled(5);
  const text = readFileSync(log, 'utf8');
  writeFileSync(log, text.replace('"seq\\":3,\\"score\\":0.123456', '"seq\\":3,\\"score\\":0.923456'));
  assert.notEqual(readFileSync(log, 'utf8'), text, 'the test changed the file');
  const { box, warnings } = open();
  assert.deepEqual(
    box.pending().map((e) => e.seq),
    [1, 2, 4, 5],
  );
  assert.ok(box.pending().every((e) => e.body.includes('0.123456')));
  assert.equal(box.stats().corrupt, 1);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /1 corrupt record\(s\).*kept in/);
  assert.match(readFileSync(join(d, 'corrupt'), 'utf8'), /0\.923456/);
  // The corrupt record's seq is not handed out again.
  assert.equal(box.append('t/results', score).seq, 6);
  box.close();
  // The count survives a restart; the record is not found again (the log was rewritten).
  const again = open();
  assert.equal(again.box.stats().corrupt, 1);
  assert.deepEqual(again.warnings, []);
  again.box.close();
});

test('a bit flip turning seq 21 into 31 with a matching checksum: not its slot, set aside; ack 31 clears only 31', () => {
  const { log, open } = filled(40);
  const lines = readFileSync(log, 'utf8').split('\n');
  // Line 0 is the header; entry 21 is line 21. Re-seal it as seq 31, as a forger would.
  const e21 = JSON.parse(lines[21].slice(9));
  assert.equal(e21.seq, 21);
  lines[21] = entryLine({ ...e21, seq: 31 }).trimEnd();
  writeFileSync(log, lines.join('\n'));
  const { box, warnings } = open();
  const seqs = box.pending().map((e) => e.seq);
  assert.equal(seqs.length, 39);
  assert.ok(!seqs.includes(21));
  assert.equal(seqs.filter((s) => s === 31).length, 1);
  assert.equal(box.stats().corrupt, 1);
  assert.equal(warnings.length, 1);
  box.ack(31);
  assert.deepEqual(
    box
      .pending()
      .map((e) => e.seq)
      .filter((s) => s >= 30 && s <= 32),
    [30, 32],
  );
  box.close();
});

test('a forged record with seq 1000000 does not move the counter', () => {
  const { log, open } = filled(3);
  appendFileSync(log, entryLine({ seq: 1_000_000, t: Date.now(), topic: 't/results', body: '{}' }));
  const { box } = open();
  assert.equal(box.stats().corrupt, 1);
  assert.deepEqual(
    box.pending().map((e) => e.seq),
    [1, 2, 3],
  );
  // The forged line used up slot 4; the next entry is 5, not 1000001.
  assert.equal(box.append('t/results', score).seq, 5);
  box.close();
});

test('an emptied or deleted log: seq continues above every seq handed out, and it is reported', () => {
  for (const damage of ['empty', 'delete'] as const) {
    const { log, open } = filled(30);
    if (damage === 'empty') writeFileSync(log, '');
    else rmSync(log);
    const { box, warnings } = open();
    const next = box.append('t/results', score).seq;
    assert.ok(next > 30, `${damage}: next seq ${next}`);
    assert.ok(next <= 30 + SEQ_BLOCK + 1, `${damage}: next seq ${next} within one reservation block`);
    assert.match(warnings.join('\n'), /missing or emptied/);
    box.close();
  }
});

test('a corrupt or empty state.json: recovered from the log, seq continues exactly, reported', () => {
  for (const garbage of ['{"seq": 12', '']) {
    const { d, open } = filled(12);
    writeFileSync(join(d, 'state.json'), garbage);
    const { box, warnings } = open();
    assert.equal(box.pending().length, 12);
    assert.equal(box.append('t/results', score).seq, 13);
    assert.match(warnings.join('\n'), /state\.json is unreadable/);
    assert.ok(existsSync(join(d, 'corrupt')));
    box.close();
  }
});
