/** A lease on a singleton's work (`leases/<name>`, src/store/lease.ts): who holds it and until when. */
export interface LeaseRecord {
  /** Who holds it: a host name, or whatever names the process (`host:pid`). */
  holder: string;
  /** ISO time by the holder's clock after which anyone may take it. */
  expires_at: string;
  /** When this holder took it (renewals keep it). */
  taken_at: string;
}
