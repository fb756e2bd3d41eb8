import * as fs from 'node:fs';

/**
 * A group's gid from the host's group file (root's, not the user
 * partition's), or null when it has none. Read by the CLI only, for
 * --kvm-group: the generated scripts take numbers, so nothing is looked up
 * at boot.
 */
export function groupId(name: string, file = '/etc/group'): number | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const [group, , gid] = line.split(':');
    if (group === name && gid !== undefined && /^[0-9]+$/.test(gid)) return Number(gid);
  }
  return null;
}
