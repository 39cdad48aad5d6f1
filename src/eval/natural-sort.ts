/**
 * Natural ("human") ordering of names: digit runs compare as numbers, so s2 < s10 and img9 < img10.
 * Implemented here rather than with Intl.Collator so the order (and therefore every seeded split and batch)
 * cannot change with the ICU version Node was built with.
 */

const CHUNK = /(\d+)|(\D+)/g;

function chunks(s: string): string[] {
  return s.match(CHUNK) ?? [];
}

function isDigits(s: string): boolean {
  const c = s.charCodeAt(0);
  return c >= 48 && c <= 57;
}

/** Compares two digit runs by numeric value without converting (runs may exceed 2**53). */
function compareDigits(a: string, b: string): number {
  const ta = a.replace(/^0+(?=\d)/, '');
  const tb = b.replace(/^0+(?=\d)/, '');
  if (ta.length !== tb.length) return ta.length - tb.length;
  if (ta !== tb) return ta < tb ? -1 : 1;
  return 0;
}

/**
 * Total order: chunk-wise, digit runs numerically and text case-insensitively; ties (e.g. "a01" vs "a1", "A"
 * vs "a") are broken by plain code-unit order so the result never depends on the input order.
 */
export function naturalCompare(a: string, b: string): number {
  const ca = chunks(a);
  const cb = chunks(b);
  const n = Math.min(ca.length, cb.length);
  for (let i = 0; i < n; i++) {
    const x = ca[i];
    const y = cb[i];
    const dx = isDigits(x);
    const dy = isDigits(y);
    let c: number;
    if (dx && dy) c = compareDigits(x, y);
    else if (dx !== dy) c = dx ? -1 : 1;
    else {
      const lx = x.toLowerCase();
      const ly = y.toLowerCase();
      c = lx === ly ? 0 : lx < ly ? -1 : 1;
    }
    if (c !== 0) return c;
  }
  if (ca.length !== cb.length) return ca.length - cb.length;
  return a === b ? 0 : a < b ? -1 : 1;
}
