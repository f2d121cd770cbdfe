/**
 * Shapes of the API's answers, for the OpenAPI document only (answers are not filtered through
 * them). Routes name one in `schema.returns`; the machine's config is the request schema itself.
 */
import { machineConfigSchema } from './schemas.ts';

const string = { type: 'string' } as const;
const integer = { type: 'integer' } as const;

const event = {
  type: 'object',
  properties: {
    id: string,
    type: {
      type: 'string',
      description: 'launch, start, exit, update, restart, stop, suspend, resume, destroy…',
    },
    status: string,
    source: { enum: ['user', 'nearby', 'agent'] },
    timestamp: { type: 'integer', description: 'Unix milliseconds' },
    request: { type: 'object', description: 'exit events: {exit_event: {exit_code, oom_killed, signal}}' },
  },
} as const;

const resources = {
  type: 'object',
  properties: {
    memory_mb: integer,
    cpus: {
      type: 'number',
      description: 'host cores; a shared vCPU takes 1/8 of one, a performance vCPU one',
    },
    machines: { type: 'integer', description: 'capacity: the host machine cap (max_machines)' },
  },
} as const;

export const responseSchemas = {
  Ok: { type: 'object', properties: { ok: { type: 'boolean' } } },
  StartResult: { type: 'object', properties: { previous_state: string } },
  App: {
    type: 'object',
    properties: {
      id: string,
      name: string,
      machine_count: integer,
      network: string,
      organization: { type: 'object', properties: { name: string, slug: string } },
      status: string,
      created_at: string,
    },
  },
  AppList: {
    type: 'object',
    properties: { total_apps: integer, apps: { type: 'array', items: { $ref: '#/components/schemas/App' } } },
  },
  Machine: {
    type: 'object',
    properties: {
      id: string,
      name: string,
      state: {
        enum: [
          'created',
          'starting',
          'started',
          'stopping',
          'stopped',
          'suspending',
          'suspended',
          'replacing',
          'replaced',
          'destroying',
          'destroyed',
          'failed',
        ],
      },
      region: string,
      instance_id: string,
      private_ip: string,
      config: machineConfigSchema,
      image_ref: {
        type: 'object',
        properties: { registry: string, repository: string, tag: string, digest: string },
      },
      created_at: string,
      updated_at: string,
      events: { type: 'array', items: event },
      host_status: { enum: ['ok', 'unreachable'] },
      cordoned: { type: 'boolean' },
      nonce: { type: 'string', description: 'lease nonce, when created with lease_ttl' },
      nearby: {
        type: 'object',
        description:
          'nearby additions: host, ipv4, last exit, restarts, error, stuck {state, since}, pull {ref, done_bytes, total_bytes, layers_done, layers_total}',
      },
    },
  },
  MachineList: { type: 'array', items: { $ref: '#/components/schemas/Machine' } },
  Events: { type: 'array', items: event },
  Lease: {
    type: 'object',
    properties: {
      status: string,
      data: {
        type: 'object',
        properties: {
          nonce: string,
          owner: string,
          description: string,
          expires_at: { type: 'integer', description: 'Unix seconds' },
          version: string,
        },
      },
    },
  },
  ExecResult: {
    type: 'object',
    properties: { stdout: string, stderr: string, exit_code: integer, exit_signal: integer },
  },
  Processes: {
    type: 'array',
    items: {
      type: 'object',
      properties: {
        pid: integer,
        command: string,
        directory: string,
        cpu: { type: 'integer', description: 'CPU time, ms' },
        rss: { type: 'integer', description: 'bytes' },
        stime: integer,
        rtime: integer,
        listen_sockets: {
          type: 'array',
          items: { type: 'object', properties: { proto: string, address: string } },
        },
      },
    },
  },
  Metadata: { type: 'object', additionalProperties: string },
  Secret: {
    type: 'object',
    properties: { name: string, digest: string, created_at: string, updated_at: string },
  },
  SecretList: {
    type: 'object',
    properties: { secrets: { type: 'array', items: { $ref: '#/components/schemas/Secret' } } },
  },
  SecretValues: { type: 'object', properties: { values: { type: 'object', additionalProperties: string } } },
  Token: {
    type: 'object',
    properties: {
      id: string,
      kind: { enum: ['admin', 'org', 'deploy', 'host'] },
      name: string,
      org_slug: string,
      app: string,
      created_at: string,
      expires_at: string,
      token: { type: 'string', description: 'the secret: only in the answer that makes it' },
    },
  },
  TokenList: {
    type: 'object',
    properties: { tokens: { type: 'array', items: { $ref: '#/components/schemas/Token' } } },
  },
  Volume: {
    type: 'object',
    properties: {
      id: string,
      name: string,
      app: string,
      state: { enum: ['pending', 'creating', 'created', 'destroying', 'destroyed', 'failed'] },
      size_gb: integer,
      region: string,
      zone: string,
      host: string,
      encrypted: { type: 'boolean' },
      fstype: string,
      attached_machine_id: { type: ['string', 'null'] },
      snapshot_id: string,
      source_volume_id: string,
      fs_bytes: { type: 'integer', description: 'the filesystem size the machine sees' },
      pending: { type: 'string', description: 'set while the filesystem waits for a restart to grow' },
      error: string,
      created_at: string,
    },
  },
  VolumeList: { type: 'array', items: { $ref: '#/components/schemas/Volume' } },
  VolumeExtend: {
    type: 'object',
    properties: { volume: { $ref: '#/components/schemas/Volume' }, needs_restart: { type: 'boolean' } },
  },
  Snapshot: {
    type: 'object',
    properties: {
      id: string,
      volume_id: string,
      status: { enum: ['pending', 'creating', 'created', 'failed'] },
      size: { type: 'integer', description: 'bytes on disk (sparse)' },
      volume_size_gb: integer,
      created_at: string,
      error: string,
    },
  },
  SnapshotList: { type: 'array', items: { $ref: '#/components/schemas/Snapshot' } },
  PlatformHost: {
    type: 'object',
    properties: {
      name: string,
      region: string,
      status: { enum: ['up', 'down'], description: 'down: its heartbeat is stale; it gets no new machines' },
      address: { type: 'string', description: 'its backhaul address' },
      version: string,
      runtimes: { type: 'array', items: string },
      capacity: resources,
      used: resources,
      machines: { type: 'integer', description: 'machines placed on it (stopped ones keep their room)' },
      started: integer,
      heartbeat_at: string,
      heartbeat_age_s: integer,
      started_at: string,
    },
  },
  PlatformHosts: {
    type: 'object',
    properties: { hosts: { type: 'array', items: { $ref: '#/components/schemas/PlatformHost' } } },
  },
  PlatformRegion: {
    type: 'object',
    properties: {
      name: string,
      hosts: integer,
      hosts_up: integer,
      capacity: { ...resources, description: 'summed over the hosts that are up' },
      used: { ...resources, description: 'summed over the hosts that are up' },
      machines: { type: 'integer', description: 'machines in the region, on hosts up or down' },
      started: integer,
    },
  },
  PlatformRegions: {
    type: 'object',
    properties: { regions: { type: 'array', items: { $ref: '#/components/schemas/PlatformRegion' } } },
  },
} as const;

export type ResponseName = keyof typeof responseSchemas;
