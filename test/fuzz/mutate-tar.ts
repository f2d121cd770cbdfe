/**
 * Tar-aware mutations for layer blobs: the blob is unpacked from gzip or zstd, one header field of
 * one entry is rewritten (name, link target, type, size, mode, ids, device numbers) with its
 * checksum fixed most of the time, entries are duplicated, dropped or spliced in from another
 * layer, and the result is packed again, or not, or its compressed stream is damaged instead.
 */
import { gunzipSync, gzipSync, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { byteMutations, type Mutation, type MutationContext, mutateWith } from './mutate.ts';
import type { Prng } from './prng.ts';

const BLOCK = 512;
const FIELDS = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  linkname: [157, 100],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
} as const;
const TYPES = '0123456 7xgLKSV\0Z';

type Compression = 'gzip' | 'zstd' | 'none';

export function decompress(blob: Buffer): { tar: Buffer; compression: Compression } | undefined {
  try {
    if (blob[0] === 0x1f && blob[1] === 0x8b) return { tar: gunzipSync(blob), compression: 'gzip' };
    if (blob.length >= 4 && blob.readUInt32LE(0) === 0xfd2fb528)
      return { tar: zstdDecompressSync(blob), compression: 'zstd' };
  } catch {
    return undefined;
  }
  return { tar: blob, compression: 'none' };
}

function compress(tar: Buffer, compression: Compression): Buffer {
  if (compression === 'gzip') return gzipSync(tar, { level: 1 });
  if (compression === 'zstd') return zstdCompressSync(tar);
  return tar;
}

/** Offsets of the header blocks, following each entry's size field while it parses. */
export function headerOffsets(tar: Buffer): number[] {
  const offsets: number[] = [];
  for (let offset = 0; offset + BLOCK <= tar.length && offsets.length < 10_000; ) {
    if (tar[offset] === 0 && tar.subarray(offset, offset + BLOCK).every((byte) => byte === 0)) break;
    offsets.push(offset);
    const size = Number.parseInt(field(tar, offset, 'size').trim() || '0', 8);
    if (!Number.isFinite(size) || size < 0) break;
    offset += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  }
  return offsets;
}

function field(tar: Buffer, offset: number, name: keyof typeof FIELDS): string {
  const [start, length] = FIELDS[name];
  return tar.toString('latin1', offset + start, offset + start + length).replace(/\0.*$/s, '');
}

function setField(tar: Buffer, offset: number, name: keyof typeof FIELDS, value: Buffer | string): void {
  const [start, length] = FIELDS[name];
  const bytes = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
  tar.fill(0, offset + start, offset + start + length);
  bytes.copy(tar, offset + start, 0, Math.min(bytes.length, length));
}

function fixChecksum(tar: Buffer, offset: number): void {
  tar.fill(0x20, offset + 148, offset + 156);
  let sum = 0;
  for (let i = offset; i < offset + BLOCK; i++) sum += tar[i];
  tar.write(`${sum.toString(8).padStart(6, '0')}\0 `, offset + 148, 'latin1');
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

/** A number in GNU base-256 form (first byte 0x80), as tar writes sizes over 8 GiB. */
function base256(value: bigint, width: number): Buffer {
  const out = Buffer.alloc(width);
  let rest = value;
  for (let i = width - 1; i > 0; i--) {
    out[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  out[0] = 0x80;
  return out;
}

function numberValue(rng: Prng, width: number): Buffer | string {
  switch (rng.int(6)) {
    case 0:
      return octal(rng.int(8 ** Math.min(width - 1, 7)), width);
    case 1:
      return base256(BigInt(rng.int(2 ** 31)) * BigInt(rng.int(2 ** 20) + 1), width);
    case 2:
      return '7'.repeat(width);
    case 3:
      return rng.pick(['-1', '9', 'zz', ' ', '']);
    case 4:
      return octal(rng.pick([0, 1, 511, 512, 513, 0o7777, 0o4755, 65534, 2 ** 21 - 1]), width);
    default:
      return rng.bytes(width);
  }
}

function entryAt(tar: Buffer, offsets: number[], index: number): Buffer {
  const end = offsets[index + 1] ?? tar.length;
  return tar.subarray(offsets[index], end);
}

/** Mutations of one tar (uncompressed). */
function mutateTar(tar: Buffer, rng: Prng, context: MutationContext): Buffer {
  const offsets = headerOffsets(tar);
  if (offsets.length === 0) return mutateWith(tar, rng, context, byteMutations);
  const out = Buffer.from(tar);
  const index = rng.int(offsets.length);
  const offset = offsets[index];
  const word = () => rng.pick(context.dictionary);
  switch (rng.int(9)) {
    case 0:
      setField(out, offset, 'name', rng.chance(0.5) ? word() : `${word()}/${word()}`);
      break;
    case 1:
      setField(out, offset, 'linkname', rng.chance(0.7) ? word() : `${word()}/${word()}`);
      break;
    case 2:
      out[offset + 156] = TYPES.charCodeAt(rng.int(TYPES.length));
      break;
    case 3:
      setField(out, offset, 'size', numberValue(rng, 12));
      break;
    case 4:
      setField(
        out,
        offset,
        rng.pick(['mode', 'uid', 'gid', 'devmajor', 'devminor'] as const),
        numberValue(rng, 8),
      );
      break;
    case 5:
      setField(out, offset, 'prefix', rng.chance(0.5) ? word() : '');
      break;
    case 6: {
      // An entry twice, or the entry of another layer spliced in.
      const other = rng.chance(0.5) ? out : (decompress(rng.pick(context.pool))?.tar ?? out);
      const otherOffsets = headerOffsets(other);
      if (otherOffsets.length === 0) return out;
      const entry = entryAt(other, otherOffsets, rng.int(otherOffsets.length));
      return Buffer.concat([out.subarray(0, offset), entry, out.subarray(offset)]);
    }
    case 7:
      return Buffer.concat([out.subarray(0, offset), out.subarray(offsets[index + 1] ?? out.length)]);
    default:
      return mutateWith(out, rng, context, byteMutations);
  }
  if (rng.chance(0.9)) fixChecksum(out, offset);
  return out;
}

const tarMutation: Mutation = (blob, rng, context) => {
  const unpacked = decompress(blob);
  if (!unpacked) return mutateWith(blob, rng, context, byteMutations);
  let tar = unpacked.tar;
  for (let count = 1 + rng.int(3); count > 0; count--) tar = mutateTar(tar, rng, context);
  const compression = rng.chance(0.8) ? unpacked.compression : rng.pick(['gzip', 'zstd', 'none'] as const);
  const packed = compress(tar, compression);
  // Now and then the compressed stream itself is damaged: bad gzip, cut short.
  return rng.chance(0.1) ? mutateWith(packed, rng, context, byteMutations) : packed;
};

export function mutateLayer(blob: Buffer, rng: Prng, context: MutationContext): Buffer {
  return tarMutation(blob, rng, context);
}
