/**
 * "Did you mean …?" for what people mistype: an option (`--prot`, `-p`), a
 * command (`PIGN`). One rule for the server, the client and the shell, so
 * that a typo gets the same help wherever it is made.
 */

/**
 * The candidate `typed` was probably meant to be: the nearest by edit
 * distance (a swap of two neighbouring letters counts as one edit), if it is
 * near enough — at most one edit per three letters, and at least one — so
 * that `--bogus` suggests nothing. Case is ignored; ties go to the earlier
 * candidate.
 */
export function closest(typed: string, candidates: readonly string[]): string | undefined {
  const word = typed.toLowerCase();
  const allowed = Math.max(1, Math.floor(word.length / 3));
  let best: string | undefined;
  let bestDistance = allowed + 1;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/**
 * The long option (`--port`) an unknown option was probably meant to be:
 * for a dash and a letter (`-p`), the first option that starts with that
 * letter; for a long one, the {@linkcode closest}. `names` are without
 * dashes; the result has them.
 */
export function meantOption(arg: string, names: readonly string[]): string | undefined {
  const name = arg.replace(/^-+/, "").split("=", 1)[0]!;
  if (!arg.startsWith("--") && name.length >= 1) {
    const letter = name[0]!.toLowerCase();
    const meant = names.find((option) => option.startsWith(letter));
    return meant === undefined ? undefined : `--${meant}`;
  }
  const meant = closest(name, names);
  return meant === undefined ? undefined : `--${meant}`;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let distance = Math.min(rows[i - 1]![j]! + 1, row[j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        distance = Math.min(distance, rows[i - 2]![j - 2]! + 1);
      }
      row.push(distance);
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}
