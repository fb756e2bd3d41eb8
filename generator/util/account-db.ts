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

/** The third field of the line whose first is `name`: the uid in passwd, the gid in group. */
function idIn(file: string, name: string): number | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const [entry, , id] = line.split(':');
    if (entry === name && id !== undefined && /^[0-9]+$/.test(id)) return Number(id);
  }
  return null;
}
