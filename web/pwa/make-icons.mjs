// Draws the PWA's icons (a white map pin on the theme's green) into web/public/app/icons/:
// `icon-<size>.png` (purpose "any": a rounded square) and `maskable-<size>.png` (purpose
// "maskable": full bleed, the pin inside the 80 % safe zone). Run once after changing the
// drawing: `node web/pwa/make-icons.mjs`; the PNGs are committed, the build copies them.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'public', 'app', 'icons');

/** The manifest's theme_color. */
const GREEN = [0x0b, 0x6e, 0x4f];
const WHITE = [0xff, 0xff, 0xff];
/** Samples per pixel side: 4 × 4 = 16 samples smooth the edges. */
const SUPERSAMPLE = 4;

/** Inside a rounded square of side 1 (corner radius r), in unit coordinates. */
function inRoundedSquare(x, y, r) {
  const dx = Math.max(r - x, 0, x - (1 - r));
  const dy = Math.max(r - y, 0, y - (1 - r));
  return dx * dx + dy * dy <= r * r;
}

/**
 * Inside a map pin centred on (0.5, 0.5) whose height is `scale`: a circle with a hole and
 * a point below it.
 */
function inPin(x, y, scale) {
  // Pin coordinates: the head's centre at (0, 0), radius 1; the tip at (0, 2.6).
  const unit = scale / 3.6;
  const px = (x - 0.5) / unit;
  const py = (y - 0.5) / unit + 0.8;
  const head = px * px + py * py;
  if (head <= 0.42 * 0.42) return false; // the hole
  if (head <= 1) return true;
  // The point: between the tangents from the tip to the circle, below where they touch it.
  const tipDistance = 2.6;
  if (py < 1 / tipDistance || py > tipDistance) return false;
  const halfAngle = Math.asin(1 / tipDistance);
  const fromTip = Math.atan2(Math.abs(px), tipDistance - py);
  return fromTip <= halfAngle;
}

function draw(size, maskable) {
  const png = new PNG({ width: size, height: size });
  for (let row = 0; row < size; row++) {
    for (let col = 0; col < size; col++) {
      let background = 0;
      let pin = 0;
      for (let sy = 0; sy < SUPERSAMPLE; sy++) {
        for (let sx = 0; sx < SUPERSAMPLE; sx++) {
          const x = (col + (sx + 0.5) / SUPERSAMPLE) / size;
          const y = (row + (sy + 0.5) / SUPERSAMPLE) / size;
          const inside = maskable || inRoundedSquare(x, y, 0.18);
          if (!inside) continue;
          background++;
          if (inPin(x, y, maskable ? 0.5 : 0.66)) pin++;
        }
      }
      const samples = SUPERSAMPLE * SUPERSAMPLE;
      const alpha = background / samples;
      const white = background ? pin / background : 0;
      const offset = (row * size + col) * 4;
      for (let channel = 0; channel < 3; channel++) {
        png.data[offset + channel] = Math.round(
          GREEN[channel] * (1 - white) + WHITE[channel] * white,
        );
      }
      png.data[offset + 3] = Math.round(alpha * 255);
    }
  }
  return PNG.sync.write(png, { colorType: 6 });
}

await mkdir(out, { recursive: true });
for (const size of [192, 512]) {
  await writeFile(join(out, `icon-${size}.png`), draw(size, false));
  await writeFile(join(out, `maskable-${size}.png`), draw(size, true));
}
// The shortcuts' icons: the same pin, small.
await writeFile(join(out, 'icon-96.png'), draw(96, false));
console.log(`icons written to ${out}`);
