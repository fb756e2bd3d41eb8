/** What a scanned node is called in a message ("character device", "FIFO"); the message adds the article. */
import type { Node } from './scanned.js';

export function describe(node: Node): string {
  switch (node.kind) {
    case 'char-device':
      return 'character device';
    case 'block-device':
      return 'block device';
    case 'fifo':
      return 'FIFO';
    case 'symlink':
      return 'symbolic link';
    case 'missing':
    case 'dangling-symlink':
      return 'missing file';
    case 'symlink-loop':
    case 'symlink-escapes':
    case 'symlink-undecodable':
      return 'unusable link';
    case 'unstatable':
      return `file that cannot be examined (${node.code})`;
    default:
      return node.kind;
  }
}
