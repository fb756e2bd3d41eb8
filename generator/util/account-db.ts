import * as fs from 'node:fs';

/**
 * Accounts of the host (root's /etc files, not the user partition's): a
 * group's gid, for the CLI's --kvm-group (the generated scripts take
 * numbers, so nothing is looked up at boot); an account's uid, for apply,
 * which must know who a shared --vmm-user or --log-user is to tell its dirs
 * from another owner's. Null when the file has no such name.
 */
export const groupId = (name: string, file = '/etc/group'): number | null => idsIn(file, name, 1)?.[0] ?? null;
export const userId = (name: string, file = '/etc/passwd'): number | null => idsIn(file, name, 1)?.[0] ?? null;
/** An account's uid and primary gid, as s6-setuidgid switches to them. */
export function userIds(name: string, file = '/etc/passwd'): { uid: number; gid: number } | null {
  const ids = idsIn(file, name, 2);
  return ids === null ? null : { uid: ids[0]!, gid: ids[1]! };
}

/**
 * The `count` numeric fields from the third on of the line whose first is
 * `name` (passwd: uid, gid; group: gid), or null when there is none such.
 */
function idsIn(file: string, name: string, count: number): number[] | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields[0] !== name) continue;
    const ids = fields.slice(2, 2 + count);
    if (ids.length === count && ids.every((id) => /^[0-9]+$/.test(id))) return ids.map(Number);
  }
  return null;
}
