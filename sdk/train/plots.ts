/** Small dependency-free SVG charts for the run directory: training curves and a confusion matrix. */

export interface CurvePoint {
  epoch: number;
  loss: number;
  top1: number;
  valTop1?: number;
}

const esc = (s: string) => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * Training curve: train loss (left axis) and train/val top-1 (right axis, 0..1) per epoch.
 * @example
 * writeFileSync('curve.svg', curveSvg([{ epoch: 1, loss: 1.2, top1: 0.6, valTop1: 0.65 }]));
 */
export function curveSvg(points: CurvePoint[], title = 'training curve'): string {
  const W = 640;
  const H = 360;
  const m = { l: 56, r: 56, t: 52, b: 44 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const maxE = Math.max(1, ...points.map((p) => p.epoch));
  const maxL = Math.max(1e-6, ...points.map((p) => p.loss)) * 1.1;
  const x = (e: number) => m.l + (maxE === 1 ? pw / 2 : ((e - 1) / (maxE - 1)) * pw);
  const yl = (v: number) => m.t + ph - (v / maxL) * ph;
  const ya = (v: number) => m.t + ph - v * ph;
  const line = (pts: [number, number][], colour: string, dash = '') =>
    pts.length === 0
      ? ''
      : `<polyline fill="none" stroke="${colour}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''} points="${pts
          .map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`)
          .join(' ')}"/>` +
        pts
          .map(([a, b]) => `<circle cx="${a.toFixed(1)}" cy="${b.toFixed(1)}" r="3" fill="${colour}"/>`)
          .join('');
  const ticks: string[] = [];
  for (let k = 0; k <= 4; k++) {
    const v = k / 4;
    ticks.push(
      `<line x1="${m.l}" x2="${W - m.r}" y1="${ya(v)}" y2="${ya(v)}" stroke="#eee"/>`,
      `<text x="${W - m.r + 6}" y="${ya(v) + 4}" font-size="11">${(v * 100).toFixed(0)}%</text>`,
      `<text x="${m.l - 6}" y="${ya(v) + 4}" font-size="11" text-anchor="end">${(maxL * v).toPrecision(3)}</text>`,
    );
  }
  for (const p of points)
    ticks.push(
      `<text x="${x(p.epoch)}" y="${H - m.b + 16}" font-size="11" text-anchor="middle">${p.epoch}</text>`,
    );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`,
    ...ticks,
    `<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`,
    `<text x="${W / 2}" y="${H - 8}" text-anchor="middle" font-size="12">epoch</text>`,
    line(
      points.map((p) => [x(p.epoch), yl(p.loss)]),
      '#d62728',
    ),
    line(
      points.map((p) => [x(p.epoch), ya(p.top1)]),
      '#1f77b4',
      '5,3',
    ),
    line(
      points.filter((p) => p.valTop1 !== undefined).map((p) => [x(p.epoch), ya(p.valTop1!)]),
      '#2ca02c',
    ),
    // Legend above the plot so it never hides a line.
    `<text x="${m.l}" y="${m.t - 10}" font-size="12" fill="#d62728">train loss (left)</text>`,
    `<text x="${m.l + 150}" y="${m.t - 10}" font-size="12" fill="#1f77b4">train top-1 (right, dashed)</text>`,
    `<text x="${m.l + 350}" y="${m.t - 10}" font-size="12" fill="#2ca02c">val top-1 (right)</text>`,
    '</svg>',
  ].join('\n');
}

/**
 * Confusion matrix heat map: rows = true class, columns = predicted, shade = row-normalised count.
 * @example
 * writeFileSync('confusion.svg', confusionSvg([[5, 1], [0, 6]], ['cat', 'dog']));
 */
export function confusionSvg(
  confusion: number[][],
  classes: string[],
  title = 'confusion matrix (val)',
): string {
  const n = classes.length;
  const cell = Math.max(8, Math.min(48, Math.floor(560 / Math.max(1, n))));
  const left = 120;
  const top = 110;
  const W = left + n * cell + 20;
  const H = top + n * cell + 30;
  const showNumbers = cell >= 24;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">${esc(title)}</text>`,
    `<text x="${left + (n * cell) / 2}" y="36" text-anchor="middle" font-size="11">predicted</text>`,
  ];
  for (let i = 0; i < n; i++) {
    const rowSum = confusion[i].reduce((a, b) => a + b, 0) || 1;
    if (cell >= 12) {
      out.push(
        `<text x="${left - 4}" y="${top + i * cell + cell / 2 + 4}" text-anchor="end" font-size="10">${esc(classes[i])}</text>`,
      );
      const cx = left + i * cell + cell / 2;
      out.push(
        `<text x="${cx}" y="${top - 6}" font-size="10" transform="rotate(-60 ${cx} ${top - 6})">${esc(classes[i])}</text>`,
      );
    }
    for (let j = 0; j < n; j++) {
      const v = confusion[i][j] / rowSum;
      const shade = Math.round(255 - v * 200);
      const fill =
        i === j ? `rgb(${shade},${255 - Math.round(v * 60)},${shade})` : `rgb(255,${shade},${shade})`;
      out.push(
        `<rect x="${left + j * cell}" y="${top + i * cell}" width="${cell}" height="${cell}" fill="${fill}" stroke="#ccc"/>`,
      );
      if (showNumbers && confusion[i][j] > 0) {
        out.push(
          `<text x="${left + j * cell + cell / 2}" y="${top + i * cell + cell / 2 + 4}" text-anchor="middle" font-size="10">${confusion[i][j]}</text>`,
        );
      }
    }
  }
  out.push('</svg>');
  return out.join('\n');
}
