/**
 * Reading the dashboard page from a test: what a device card shows, and the page's contrast and
 * labels, through puppeteer's page.evaluate (the functions below run inside Chromium).
 */
import type { Page } from 'puppeteer-core';

/**
 * tsx compiles this file with esbuild's keepNames, which wraps named functions in `__name(...)`;
 * functions handed to page.evaluate run in the page, which has no such helper.
 */
export const keepNames = (p: Page) => p.evaluateOnNewDocument('globalThis.__name = (f) => f;');

/** What a card shows, read from the DOM. */
export interface CardText {
  status: string;
  dataStatus: string;
  label: string;
  seq: number;
  /** Time since the last result, e.g. `2 s ago`. */
  age: string;
  model: string;
  fps: string;
  p95: string;
  timeline: number;
  sparkPoints: number;
  deploy: string | null;
  error: string | null;
  replies: string[];
  paused: boolean;
  background: string;
}

export function readCard(p: Page, id: string): Promise<CardText | null> {
  return p.evaluate((id) => {
    const c = Array.from(document.querySelectorAll<HTMLElement>('article.card')).find(
      (e) => e.dataset.device === id,
    );
    if (!c) return null;
    const f = (n: string) => c.querySelector<HTMLElement>(`[data-field="${n}"]`)!;
    const shown = (n: string) => (f(n).hidden ? null : f(n).textContent);
    const points = f('spark').querySelector('polyline')!.getAttribute('points') ?? '';
    return {
      status: f('status').textContent ?? '',
      dataStatus: c.dataset.status ?? '',
      label: f('label').textContent ?? '',
      seq: Number(f('label').dataset.seq ?? 0),
      age: f('age').textContent ?? '',
      model: f('model').textContent ?? '',
      fps: f('fps').textContent ?? '',
      p95: f('p95').textContent ?? '',
      timeline: f('timeline').children.length,
      sparkPoints: points.split(' ').filter(Boolean).length,
      deploy: shown('deploy'),
      error: shown('error'),
      replies: Array.from(f('replies').children).map((li) => li.textContent ?? ''),
      paused: !f('paused').hidden,
      background: getComputedStyle(c).backgroundColor,
    };
  }, id);
}

export interface Accessibility {
  /** WCAG contrast ratio of each visible text element against the background it is drawn on. */
  ratios: { what: string; ratio: number }[];
  /** Inputs without a label, buttons without a name. */
  unlabelled: number;
  nameless: number;
}

/** Contrast of the page's text elements (badges, deploy, errors, replies, stats...), labels, names. */
export function accessibility(p: Page): Promise<Accessibility> {
  return p.evaluate(() => {
    const rgb = (s: string) => (s.match(/[\d.]+/g) ?? []).map(Number);
    const lum = (c: number[]) => {
      const [r, g, b] = c.slice(0, 3).map((v) => {
        const x = v / 255;
        return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
      });
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const background = (e: Element | null): number[] => {
      for (; e; e = e.parentElement) {
        const c = rgb(getComputedStyle(e).backgroundColor);
        if (c.length === 3 || c[3] > 0) return c;
      }
      return [255, 255, 255];
    };
    const sel =
      '.badge, .deploy, .error, .replies li, .model, .caption, .stats dt, .stats dd, .last span, #conn';
    const ratios = Array.from(document.querySelectorAll<HTMLElement>(sel))
      .filter((e) => !e.closest('[hidden]') && e.textContent)
      .map((e) => {
        const [a, b] = [lum(rgb(getComputedStyle(e).color)), lum(background(e))];
        return {
          what: `${e.className || e.id}: ${e.textContent}`,
          ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05),
        };
      });
    const unlabelled = Array.from(document.querySelectorAll('input')).filter(
      (i) => !i.closest('label'),
    ).length;
    const nameless = Array.from(document.querySelectorAll('button')).filter(
      (b) => !b.textContent?.trim(),
    ).length;
    return { ratios, unlabelled, nameless };
  });
}
