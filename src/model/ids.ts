/** Identifiers in the shapes clients expect: 14-hex machine ids, ULID-like instance ids. */
import { randomBytes } from 'node:crypto';

const crockford = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export function machineId(): string {
  return randomBytes(7).toString('hex');
}

/** Time-ordered 26-character id (48-bit ms time + 80 random bits, Crockford base32), like a ULID. */
export function instanceId(now = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = crockford[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const random = randomBytes(16);
  let rest = '';
  for (let i = 0; i < 16; i++) rest += crockford[random[i] % 32];
  return time + rest;
}

const adjectives = [
  'quiet',
  'bold',
  'swift',
  'calm',
  'bright',
  'small',
  'green',
  'lively',
  'wandering',
  'misty',
];
const nouns = ['river', 'sun', 'field', 'forest', 'cloud', 'harbor', 'meadow', 'stone', 'wave', 'star'];

/** A readable machine name such as `quiet-river-4821`. */
export function machineName(): string {
  const bytes = randomBytes(4);
  return `${adjectives[bytes[0] % adjectives.length]}-${nouns[bytes[1] % nouns.length]}-${bytes.readUInt16BE(2) % 10000}`;
}
