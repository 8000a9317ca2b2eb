/**
 * Device cards in the DOM. Each card is built once and then updated field by field, so a card
 * being typed into keeps its focus while results stream in. Payload text only ever reaches the page
 * through textContent / attributes (never innerHTML): device ids and labels are untrusted.
 */
import { ago, latencyRange, type DeviceView } from './fleet.js';

/** A command the panel asks to send: `<prefix>/<deviceId>/cmd/<name>` with `args`. */
export type SendCommand = (deviceId: string, name: string, args: Record<string, number>) => number;

/**
 * Okabe-Ito colours (distinguishable with the common colour-vision deficiencies), its pale yellow
 * swapped for a purple that stands out on white.
 */
const PALETTE = ['#0072b2', '#e69f00', '#009e73', '#cc79a7', '#56b4e9', '#d55e00', '#6b4c9a', '#000000'];

/**
 * A stable colour per label, so one label looks the same on every card.
 * @example labelColour('cat') // one of PALETTE, the same on every call
 */
export function labelColour(label: string): string {
  let h = 0;
  for (const ch of label) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return PALETTE[h % PALETTE.length];
}

const SVG = 'http://www.w3.org/2000/svg';

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

/** The `[data-field=name]` element of a card. */
function field(card: Element, name: string): HTMLElement {
  return card.querySelector(`[data-field="${name}"]`) as HTMLElement;
}

const STATS: [string, string][] = [
  ['fps', 'fps'],
  ['p50', 'latency p50'],
  ['p95', 'latency p95'],
  ['dropped', 'dropped'],
  ['errors', 'errors'],
  ['temp', 'CPU temp'],
];

function commandForm(id: string, send: SendCommand): HTMLElement {
  const status = el('p', { class: 'sent', 'data-field': 'sent', 'aria-live': 'polite' });
  const say = (name: string, n: number) => {
    status.dataset.id = String(n);
    status.textContent = `sent ${name} #${n}, waiting for the reply`;
  };
  const button = (name: string, text: string) => {
    const b = el('button', { type: 'button', 'data-cmd': name }, text);
    b.addEventListener('click', () => say(name, send(id, name, {})));
    return b;
  };
  const numeric = (name: string, key: string, text: string, attrs: Record<string, string>) => {
    const input = el('input', { type: 'number', name: key, required: '', ...attrs });
    const form = el(
      'form',
      // novalidate: the device is the authority on values; its refusal is shown in the replies.
      { class: 'set', 'data-cmd': name, novalidate: '' },
      el('label', {}, `${text} `, input),
      el('button', { type: 'submit', 'aria-label': `set ${text.toLowerCase()}` }, 'set'),
    );
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      say(name, send(id, name, { [key]: Number(input.value) }));
    });
    return form;
  };
  return el(
    'section',
    { class: 'commands', 'aria-label': `commands for ${id}` },
    el('div', { class: 'buttons' }, button('pause', 'Pause'), button('resume', 'Resume')),
    numeric('set-threshold', 'threshold', 'Threshold', { min: '0', max: '1', step: '0.05', value: '0.5' }),
    numeric('set-fps', 'fps', 'FPS', { min: '0.1', max: '1000', step: 'any', value: '5' }),
    status,
    el('ol', {
      class: 'replies',
      'data-field': 'replies',
      'aria-label': 'command replies',
      'aria-live': 'polite',
    }),
  );
}

let cards = 0;

function buildCard(d: DeviceView, send: SendCommand): HTMLElement {
  const stats = el('dl', { class: 'stats' });
  for (const [key, text] of STATS) {
    stats.append(el('div', {}, el('dt', {}, text), el('dd', { 'data-field': key }, '–')));
  }
  const spark = document.createElementNS(SVG, 'svg');
  spark.setAttribute('class', 'spark');
  spark.setAttribute('viewBox', '0 0 120 30');
  spark.setAttribute('preserveAspectRatio', 'none');
  spark.setAttribute('role', 'img');
  spark.setAttribute('data-field', 'spark');
  const line = document.createElementNS(SVG, 'polyline');
  spark.append(line);
  // A counter, not the device id: ids may hold any character, and two must never share an element id.
  const titleId = `device-${++cards}`;
  return el(
    'article',
    { class: 'card', 'data-device': d.id, 'aria-labelledby': titleId },
    el(
      'header',
      {},
      el('h2', { id: titleId }, d.id),
      el('span', { class: 'badge', 'data-field': 'status' }),
      el('span', { class: 'badge paused', 'data-field': 'paused', hidden: '' }, 'paused'),
    ),
    el('p', { class: 'model', 'data-field': 'model' }, 'model: –'),
    el(
      'p',
      { class: 'last' },
      el('span', { class: 'label', 'data-field': 'label' }, '–'),
      ' ',
      el('span', { class: 'score', 'data-field': 'score' }),
      ' ',
      el('span', { class: 'age', 'data-field': 'age' }, 'no result yet'),
    ),
    stats,
    el('div', { class: 'timeline', role: 'img', 'data-field': 'timeline' }),
    el('div', { class: 'sparkbox' }, spark, el('span', { class: 'caption', 'data-field': 'sparkcap' })),
    el('p', { class: 'deploy', 'data-field': 'deploy', hidden: '' }),
    el('p', { class: 'error', 'data-field': 'error', hidden: '' }),
    commandForm(d.id, send),
  );
}

const fmt = (v: number | null | undefined, digits: number, unit = '') =>
  v === null || v === undefined ? '–' : `${v.toFixed(digits)}${unit}`;

function renderTimeline(box: HTMLElement, d: DeviceView): void {
  box.replaceChildren(
    ...d.timeline.map((e) => {
      const b = el('span', { title: `#${e.seq} ${e.label} ${e.score.toFixed(2)}` });
      b.style.background = labelColour(e.label);
      return b;
    }),
  );
  const recent = d.timeline.slice(-5).map((e) => e.label);
  box.setAttribute('aria-label', `label timeline, newest last: ${recent.join(', ') || 'none yet'}`);
}

function renderSpark(card: HTMLElement, d: DeviceView): void {
  const svg = field(card, 'spark');
  const range = latencyRange(d);
  const cap = field(card, 'sparkcap');
  if (!range) return;
  const n = d.timeline.length;
  const span = range.max - range.min || 1;
  const points = d.timeline.map((e, i) => {
    const x = n === 1 ? 120 : (i / (n - 1)) * 120;
    const y = 28 - ((e.latencyMs - range.min) / span) * 26;
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  });
  svg.querySelector('polyline')!.setAttribute('points', points.join(' '));
  const text = `latency ${range.min.toFixed(1)}–${range.max.toFixed(1)} ms over ${n} results`;
  svg.setAttribute('aria-label', text);
  cap.textContent = text;
}

/**
 * Creates or updates the card of `d` inside `root`.
 * @example renderDevice(document.getElementById('fleet')!, fleet.devices.get('cam1')!, send, Date.now());
 */
export function renderDevice(root: HTMLElement, d: DeviceView, send: SendCommand, now: number): void {
  let card = Array.from(root.querySelectorAll<HTMLElement>('article.card')).find(
    (c) => c.dataset.device === d.id,
  );
  if (!card) {
    card = buildCard(d, send);
    // Sorted by id, so a card stays where people look for it whatever order devices report in.
    const after = Array.from(root.querySelectorAll<HTMLElement>('article.card')).find(
      (c) => (c.dataset.device ?? '') > d.id,
    );
    root.insertBefore(card, after ?? null);
  }
  card.dataset.status = d.status;
  field(card, 'status').textContent = d.status === 'unknown' ? 'status unknown' : d.status;
  field(card, 'paused').hidden = d.paused !== true;
  field(card, 'model').textContent = d.model ? `model: ${d.model.name} ${d.model.version}` : 'model: –';
  const last = d.timeline.at(-1);
  if (last) {
    const label = field(card, 'label');
    label.textContent = last.label;
    label.dataset.seq = String(last.seq);
    label.style.borderColor = labelColour(last.label);
    field(card, 'score').textContent = last.score.toFixed(3);
  }
  renderAge(card, d, now);
  const m = d.metrics;
  field(card, 'fps').textContent = fmt(m?.fps, 1);
  field(card, 'p50').textContent = fmt(m?.latencyMs.p50, 1, ' ms');
  field(card, 'p95').textContent = fmt(m?.latencyMs.p95, 1, ' ms');
  field(card, 'dropped').textContent = m ? String(m.dropped) : '–';
  field(card, 'errors').textContent = m ? String(m.errors) : '–';
  field(card, 'temp').textContent = m ? fmt(m.cpuTempC, 1, ' °C') : '–';
  renderTimeline(field(card, 'timeline'), d);
  renderSpark(card, d);
  const dep = field(card, 'deploy');
  dep.hidden = !d.deploy;
  if (d.deploy) {
    dep.dataset.state = d.deploy.state;
    const from = d.deploy.previous ? ` (previous ${d.deploy.previous})` : '';
    const what = [d.deploy.model, d.deploy.version].filter(Boolean).join(' ');
    dep.textContent = `deploy: ${d.deploy.state}${what ? ` ${what}` : ''}${from}`;
  }
  const err = field(card, 'error');
  err.hidden = !d.lastError;
  if (d.lastError) err.textContent = `last error (${d.lastError.source}): ${d.lastError.message}`;
  const sent = field(card, 'sent');
  if (d.replies.some((r) => String(r.id) === sent.dataset.id)) sent.textContent = '';
  field(card, 'replies').replaceChildren(
    ...d.replies.map((r) =>
      el(
        'li',
        { class: r.ok ? 'ok' : 'failed' },
        `${r.cmd}${r.id === null ? '' : ` #${r.id}`}: ${r.ok ? 'ok' : 'refused'} ${r.text}`,
      ),
    ),
  );
}

/**
 * Refreshes "time since last result" (called every second: results may have stopped).
 * @example renderAge(card, fleet.devices.get('cam1')!, Date.now());
 */
export function renderAge(card: HTMLElement, d: DeviceView, now: number): void {
  const last = d.timeline.at(-1);
  if (last) field(card, 'age').textContent = `${ago(now - last.at)} ago`;
}
