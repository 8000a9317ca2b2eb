/**
 * One SVG with the learning curves of several runs (bench/table2.ts): test top-1 per epoch, one
 * line per series, in the style of the run directory's curve.svg (sdk/train/plots.ts).
 */

export interface Series {
  name: string;
  /** Test top-1 (0..1) after each epoch; `spread` draws a band of +-spread around it. */
  points: { epoch: number; top1: number; spread?: number }[];
  dashed?: boolean;
  /** Default: the next of COLOURS. */
  colour?: string;
}

export const COLOURS = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#9467bd',
  '#ff7f0e',
  '#8c564b',
  '#17becf',
  '#7f7f7f',
];
const esc = (s: string) => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * Learning curves of all series on one top-1 axis (the axis spans the data, not 0..100%, so
 * close curves stay apart).
 * @example
 * writeFileSync('curves.svg', curvesSvg([{ name: 'dmp', points: [{ epoch: 1, top1: 0.88 }] }], 'Table 2'));
 */
export function curvesSvg(series: Series[], title: string): string {
  const W = 780;
  const H = 400;
  const m = { l: 56, r: 190, t: 44, b: 44 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const all = series.flatMap((s) => s.points);
  const maxE = Math.max(1, ...all.map((p) => p.epoch));
  const lo = Math.max(0, Math.floor(Math.min(1, ...all.map((p) => p.top1 - (p.spread ?? 0))) * 20) / 20);
  const hi = Math.min(
    1,
    Math.ceil(Math.max(lo + 0.05, ...all.map((p) => p.top1 + (p.spread ?? 0))) * 20) / 20,
  );
  const x = (e: number) => m.l + (maxE === 1 ? pw / 2 : ((e - 1) / (maxE - 1)) * pw);
  const y = (v: number) => m.t + ph - ((v - lo) / (hi - lo)) * ph;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${m.l + pw / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`,
  ];
  for (let k = 0; k <= 5; k++) {
    const v = lo + ((hi - lo) * k) / 5;
    out.push(
      `<line x1="${m.l}" x2="${m.l + pw}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#eee"/>`,
      `<text x="${m.l - 6}" y="${(y(v) + 4).toFixed(1)}" font-size="11" text-anchor="end">${(v * 100).toFixed(1)}%</text>`,
    );
  }
  for (let e = 1; e <= maxE; e++)
    out.push(
      `<text x="${x(e).toFixed(1)}" y="${H - m.b + 16}" font-size="11" text-anchor="middle">${e}</text>`,
    );
  out.push(
    `<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`,
    `<text x="${m.l + pw / 2}" y="${H - 8}" text-anchor="middle" font-size="12">epoch</text>`,
    `<text x="14" y="${m.t + ph / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 14 ${m.t + ph / 2})">test top-1</text>`,
  );
  series.forEach((s, i) => {
    const c = s.colour ?? COLOURS[i % COLOURS.length];
    const pts = s.points.map((p) => `${x(p.epoch).toFixed(1)},${y(p.top1).toFixed(1)}`).join(' ');
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    for (const p of s.points)
      if (p.spread)
        out.push(
          `<line x1="${x(p.epoch).toFixed(1)}" x2="${x(p.epoch).toFixed(1)}" y1="${y(p.top1 - p.spread).toFixed(1)}" y2="${y(p.top1 + p.spread).toFixed(1)}" stroke="${c}" stroke-width="1"/>`,
        );
    out.push(`<polyline fill="none" stroke="${c}" stroke-width="2"${dash} points="${pts}"/>`);
    for (const p of s.points)
      out.push(`<circle cx="${x(p.epoch).toFixed(1)}" cy="${y(p.top1).toFixed(1)}" r="3" fill="${c}"/>`);
    const ly = m.t + 14 + i * 18;
    out.push(
      `<line x1="${W - m.r + 12}" x2="${W - m.r + 36}" y1="${ly - 4}" y2="${ly - 4}" stroke="${c}" stroke-width="2"${dash}/>`,
      `<text x="${W - m.r + 42}" y="${ly}" font-size="12">${esc(s.name)}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n');
}
