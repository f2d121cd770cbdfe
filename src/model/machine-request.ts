/**
 * One-off work the API asks of a machine's agent through the store (`machine-requests/<host>/<id>`),
 * answered in `machine-replies/<id>`: things that are not a desired state (exec, a signal, ps).
 */
export type MachineRequest =
  | { id: string; machine: string; kind: 'exec'; command: string[]; timeout_ms: number; created_at: string }
  | { id: string; machine: string; kind: 'signal'; signal: string; created_at: string }
  | { id: string; machine: string; kind: 'ps'; created_at: string };

export interface ExecReply {
  stdout: string;
  stderr: string;
  exit_code: number;
  exit_signal?: number;
}

export interface ProcessInfo {
  pid: number;
  command: string;
  directory: string;
  cpu: number;
  rss: number;
  stime: number;
  rtime: number;
  listen_sockets: { proto: string; address: string }[];
}

export type MachineReply =
  | { ok: true; result: ExecReply | ProcessInfo[] | Record<string, never> }
  | { ok: false; error: { code: string; message: string; status: number } };
