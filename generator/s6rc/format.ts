/**
 * The s6-rc source format, read one way for the source checker, the update
 * conversion and the admin commands: the service types, the name limit, and
 * list files, each as s6-rc-compile reads it (s6-rc-compile.html, and its
 * source where the doc is silent).
 */

export const SERVICE_TYPES = ['oneshot', 'longrun', 'bundle'] as const;
export type ServiceType = (typeof SERVICE_TYPES)[number];

/** s6-svscan ignores longer service names, so `s6-rc-init -p` fails. */
export const LONGRUN_NAME_MAX_BYTES = 251;

/** Whether a longrun named `name` fits once `s6-rc-init -p prefix` is applied. */
export function longrunNameFits(name: string, prefix = ''): boolean {
  return Buffer.byteLength(prefix + name, 'utf8') <= LONGRUN_NAME_MAX_BYTES;
}

/** A `type` file as s6-rc-compile's type_check reads it: 8 bytes at most, one trailing newline dropped, then the exact word. */
export function serviceType(raw: Uint8Array): ServiceType | null {
  let head = raw.subarray(0, 8);
  if (head.length < 6) return null;
  if (head[head.length - 1] === 0x0a) head = head.subarray(0, -1);
  if (head.length === 8) return null;
  const word = Buffer.from(head).toString('latin1');
  return SERVICE_TYPES.find((t) => t === word) ?? null;
}

/**
 * A list file (dependencies, contents): one name a line; leading spaces and
 * tabs skipped; empty and `#` lines skipped; trailing whitespace (\r too)
 * kept in the name; a name ends at a NUL byte (it is a C string). A name
 * listed again counts once and is returned in `repeated`.
 */
export function nameList(raw: Uint8Array): { names: string[]; repeated: string[] } {
  const names: string[] = [];
  const repeated: string[] = [];
  for (const line of splitLines(raw)) {
    let start = 0;
    while (line[start] === 0x20 || line[start] === 0x09) start++;
    const nul = line.indexOf(0, start);
    const bytes = line.subarray(start, nul === -1 ? line.length : nul);
    if (bytes.length === 0 || bytes[0] === 0x23) continue;
    const name = Buffer.from(bytes).toString('utf8');
    if (names.includes(name)) repeated.push(name);
    else names.push(name);
  }
  return { names, repeated };
}

/** Lines split on '\n'; a last line without newline counts, an empty tail does not. */
function splitLines(raw: Uint8Array): Uint8Array[] {
  const lines: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x0a) {
      lines.push(raw.subarray(start, i));
      start = i + 1;
    }
  }
  if (start < raw.length) lines.push(raw.subarray(start));
  return lines;
}
