/**
 * openat(2) for Node, which has none: `/proc/self/fd/N/name` makes the kernel
 * resolve `name` from the directory open as N, wherever that directory is
 * now, so a walk by descriptor never reopens a path that may have changed.
 */
export function atDir(dirFd: number, name: string): string;
export function atDir(dirFd: number, name: Buffer): Buffer;
export function atDir(dirFd: number, name: string | Buffer): string | Buffer;
export function atDir(dirFd: number, name: string | Buffer): string | Buffer {
  return typeof name === 'string' ? `/proc/self/fd/${dirFd}/${name}` : Buffer.concat([Buffer.from(`/proc/self/fd/${dirFd}/`), name]);
}
