/**
 * Finding a number plate in what OCR read from a photo. Each line is upper-cased and split
 * into words of letters and digits; every run of one to three neighbouring words is a
 * candidate when it has 4 to 10 characters with both letters and digits. The shape most
 * plates have (letters, then digits, then maybe letters: `KDA 417Q`, `UAX 123B`,
 * `RAB 123C`, `AB 12 CDE`) wins over any other, then the longer run.
 */
const USUAL_SHAPE = /^[A-Z]{1,3} ?[0-9]{1,4} ?[A-Z]{0,3}$/;

export function findPlate(text: string): string | null {
  let best: { plate: string; score: number } | null = null;
  for (const line of text.toUpperCase().split(/\n+/)) {
    const words = line.split(/[^A-Z0-9]+/).filter(Boolean);
    for (let start = 0; start < words.length; start++) {
      for (let count = 1; count <= 3 && start + count <= words.length; count++) {
        const plate = words.slice(start, start + count).join(' ');
        const compact = plate.replace(/ /g, '');
        if (
          compact.length < 4 || compact.length > 10 || !/[A-Z]/.test(compact) ||
          !/[0-9]/.test(compact)
        ) continue;
        const score = (USUAL_SHAPE.test(plate) ? 100 : 0) + compact.length;
        if (!best || score > best.score) best = { plate, score };
      }
    }
  }
  return best?.plate ?? null;
}
