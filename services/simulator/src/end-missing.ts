/**
 * Ends the attachments of `gateway` absent from two of its rosters in a row: one roster may predate a join still on
 * its way (joins and inputs travel on different subjects), two cannot. Returns how many ended.
 */
export function endMissing(
  attachments: ReadonlyMap<string, { readonly gateway: string } | string>,
  missing: Map<string, number>,
  gateway: string,
  roster: readonly string[],
  end: (attachment: string) => void,
): number {
  const present = new Set(roster);
  let ended = 0;
  for (const [attachment, entry] of [...attachments]) {
    const owner = typeof entry === 'string' ? entry : entry.gateway;
    if (owner !== gateway) continue;
    if (present.has(attachment)) {
      missing.delete(attachment);
      continue;
    }
    const misses = (missing.get(attachment) ?? 0) + 1;
    if (misses < 2) {
      missing.set(attachment, misses);
      continue;
    }
    missing.delete(attachment);
    end(attachment);
    ended++;
  }
  return ended;
}
