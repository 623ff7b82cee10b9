// Small PNG plotting helpers for the examples: scatter plots, density heat maps and image grids.
// Pure TypeScript over pngjs; no native dependencies.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { PNG } from 'pngjs';

export type RGB = [number, number, number];

/** A blank canvas with a background colour. */
export class Canvas {
  readonly png: PNG;
  constructor(readonly width: number, readonly height: number, background: RGB = [255, 255, 255]) {
    this.png = new PNG({ width, height });
    for (let i = 0; i < width * height; i++) this.png.data.set([...background, 255], i * 4);
  }
  set(x: number, y: number, c: RGB, alpha = 1): void {
    const xi = Math.round(x), yi = Math.round(y);
    if (xi < 0 || yi < 0 || xi >= this.width || yi >= this.height) return;
    const o = (yi * this.width + xi) * 4;
    for (let k = 0; k < 3; k++) this.png.data[o + k] = Math.round(this.png.data[o + k]! * (1 - alpha) + c[k]! * alpha);
  }
  dot(x: number, y: number, c: RGB, radius = 1.5, alpha = 0.6): void {
    const r = Math.ceil(radius);
    for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) if (dx * dx + dy * dy <= radius * radius) this.set(x + dx, y + dy, c, alpha);
  }
  /** Writes the PNG, creating folders; returns the path. */
  save(path: string): string {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, PNG.sync.write(this.png));
    return path;
  }
}

export interface Bounds {
  xmin: number;
  xmax: number;
  ymin: number;
  ymax: number;
}

function toPixel(b: Bounds, w: number, h: number, x: number, y: number): [number, number] {
  return [((x - b.xmin) / (b.xmax - b.xmin)) * (w - 1), (1 - (y - b.ymin) / (b.ymax - b.ymin)) * (h - 1)];
}

/** Scatter plot of several point sets (each a flat [x0, y0, x1, y1, ...] list) in one square picture. */
export function scatter(path: string, sets: { points: ArrayLike<number>; color: RGB }[], bounds: Bounds, size = 400): string {
  const c = new Canvas(size, size);
  // Axes through the origin, light grey.
  const [ox, oy] = toPixel(bounds, size, size, 0, 0);
  for (let i = 0; i < size; i++) {
    c.set(ox, i, [220, 220, 220]);
    c.set(i, oy, [220, 220, 220]);
  }
  for (const s of sets) {
    for (let i = 0; i + 1 < s.points.length; i += 2) {
      const [px, py] = toPixel(bounds, size, size, s.points[i]!, s.points[i + 1]!);
      c.dot(px, py, s.color);
    }
  }
  return c.save(path);
}

/** A viridis-like colour map on [0, 1]. */
export function colormap(t: number): RGB {
  const stops: RGB[] = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const u = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(u));
  const f = u - i;
  return stops[i]!.map((a, k) => a + (stops[i + 1]![k]! - a) * f) as RGB;
}

/** Heat map of `values` on a `res`×`res` grid (row-major, row 0 at the top), normalised to [0, 1]. */
export function heatmap(path: string, values: ArrayLike<number>, res: number, scale = 2): string {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  }
  const c = new Canvas(res * scale, res * scale);
  for (let r = 0; r < res; r++) for (let q = 0; q < res; q++) {
    const col = colormap((values[r * res + q]! - lo) / (hi - lo || 1));
    for (let dy = 0; dy < scale; dy++) for (let dx = 0; dx < scale; dx++) c.set(q * scale + dx, r * scale + dy, col, 1);
  }
  return c.save(path);
}

/** Grid points covering `bounds`: a flat [x, y, ...] list in row-major order with y decreasing (top row first). */
export function gridPoints(bounds: Bounds, res: number): Float32Array {
  const out = new Float32Array(res * res * 2);
  for (let r = 0; r < res; r++) for (let q = 0; q < res; q++) {
    out[(r * res + q) * 2] = bounds.xmin + ((q + 0.5) / res) * (bounds.xmax - bounds.xmin);
    out[(r * res + q) * 2 + 1] = bounds.ymax - ((r + 0.5) / res) * (bounds.ymax - bounds.ymin);
  }
  return out;
}

/** Grayscale images (values in [0, 1], each h×w, flat) tiled into a grid. */
export function imageGrid(path: string, images: ArrayLike<number>, count: number, h: number, w: number, cols = 8, scale = 2): string {
  const rows = Math.ceil(count / cols);
  const pad = 2;
  const c = new Canvas(cols * (w * scale + pad) + pad, rows * (h * scale + pad) + pad, [40, 40, 40]);
  for (let n = 0; n < count; n++) {
    const ox = pad + (n % cols) * (w * scale + pad), oy = pad + Math.floor(n / cols) * (h * scale + pad);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const v = Math.round(255 * Math.min(1, Math.max(0, images[n * h * w + y * w + x]!)));
      for (let dy = 0; dy < scale; dy++) for (let dx = 0; dx < scale; dx++) c.set(ox + x * scale + dx, oy + y * scale + dy, [v, v, v], 1);
    }
  }
  return c.save(path);
}
