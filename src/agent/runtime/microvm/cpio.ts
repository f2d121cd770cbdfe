/**
 * A writer for the newc cpio format, the one the kernel unpacks as an initramfs. Archives may be
 * concatenated: the kernel unpacks each in turn, so a per-machine config rides after the base.
 */

export interface CpioEntry {
  /** Path inside the archive, without a leading slash. */
  name: string;
  /** Full st_mode (type and permission bits), e.g. 0o100755 for an executable file. */
  mode: number;
  data?: Buffer;
  /** For device nodes. */
  rdev?: { major: number; minor: number };
}

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFCHR = 0o020000;

function pad4(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}

function header(entry: CpioEntry, ino: number, size: number): Buffer {
  const fields = [
    ino,
    entry.mode,
    0, // uid
    0, // gid
    entry.mode & S_IFDIR ? 2 : 1,
    0, // mtime
    size,
    0,
    0,
    entry.rdev?.major ?? 0,
    entry.rdev?.minor ?? 0,
    Buffer.byteLength(entry.name) + 1,
    0, // check
  ];
  return Buffer.from(`070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`, 'latin1');
}

export function cpioArchive(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  const push = (buffer: Buffer) => {
    parts.push(buffer);
    offset += buffer.length;
  };
  const all = [...entries, { name: 'TRAILER!!!', mode: 0 }];
  all.forEach((entry, index) => {
    const data = entry.data ?? Buffer.alloc(0);
    push(header(entry, index + 1, data.length));
    push(Buffer.from(`${entry.name}\0`));
    push(pad4(offset));
    push(data);
    push(pad4(offset));
  });
  return Buffer.concat(parts);
}
