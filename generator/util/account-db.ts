import * as fs from 'node:fs';

/**
 * Accounts of the host (root's /etc files, not the user partition's): a
 * group's gid, for the CLI's --kvm-group (the generated scripts take
 * numbers, so nothing is looked up at boot); an account's uid, for apply,
 * which must know who a shared --vmm-user or --log-user is to tell its dirs
 * from another owner's. Null when the file has no such name.
 */
export const groupId = (name: string, file = '/etc/group'): number | null => idIn(file, name);
export const userId = (name: string, file = '/etc/passwd'): number | null => idIn(file, name);
/** An account's uid and primary gid, as s6-setuidgid switches to them. */
export function userIds(name: string, file = '/etc/passwd'): { uid: number; gid: number } | null {
  const uid = idIn(file, name);
  const gid = idIn(file, name, 3);
  return uid === null || gid === null ? null : { uid, gid };
}

/** Field `field` (0-based; default the third) of the line whose first is `name`: the uid in passwd, the gid in group. */
function idIn(file: string, name: string, field = 2): number | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    const id = fields[field];
    if (fields[0] === name && id !== undefined && /^[0-9]+$/.test(id)) return Number(id);
  }
  return null;
}
