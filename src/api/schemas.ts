/**
 * JSON schemas of request bodies, in the Machines API's shapes. Unknown fields are dropped (as the
 * Machines API ignores them); a field of the wrong type is refused with its path named.
 */
const stringArray = { type: 'array', items: { type: 'string' } } as const;
const stringMap = { type: 'object', additionalProperties: { type: 'string' } } as const;
const port = { type: 'integer', minimum: 1, maximum: 65535 } as const;
const duration = { anyOf: [{ type: 'string' }, { type: 'number' }] } as const;

const check = {
  type: 'object',
  additionalProperties: false,
  properties: {
    type: { enum: ['tcp', 'http'] },
    port,
    interval: duration,
    timeout: duration,
    grace_period: duration,
    method: { type: 'string' },
    path: { type: 'string' },
    protocol: { enum: ['http', 'https'] },
    tls_skip_verify: { type: 'boolean' },
    headers: { type: 'object', additionalProperties: { anyOf: [{ type: 'string' }, stringArray] } },
  },
} as const;

const service = {
  type: 'object',
  additionalProperties: false,
  required: ['internal_port'],
  properties: {
    protocol: { enum: ['tcp', 'udp'], default: 'tcp' },
    internal_port: port,
    ports: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        properties: {
          port,
          start_port: port,
          end_port: port,
          handlers: stringArray,
          force_https: { type: 'boolean' },
          tls_options: { type: 'object' },
          http_options: { type: 'object' },
          proxy_proto_options: { type: 'object' },
        },
      },
    },
    concurrency: {
      type: 'object',
      additionalProperties: false,
      properties: {
        type: { enum: ['connections', 'requests'] },
        soft_limit: { type: 'integer', minimum: 0 },
        hard_limit: { type: 'integer', minimum: 0 },
      },
    },
    autostop: { anyOf: [{ type: 'boolean' }, { enum: ['off', 'stop', 'suspend'] }] },
    autostart: { type: 'boolean' },
    min_machines_running: { type: 'integer', minimum: 0 },
    checks: { type: 'array', items: check },
  },
} as const;

export const machineConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['image'],
  properties: {
    image: { type: 'string', minLength: 1 },
    env: stringMap,
    init: {
      type: 'object',
      additionalProperties: false,
      properties: { exec: stringArray, entrypoint: stringArray, cmd: stringArray, tty: { type: 'boolean' } },
    },
    guest: {
      type: 'object',
      additionalProperties: false,
      properties: {
        cpu_kind: { enum: ['shared', 'performance'] },
        cpus: { type: 'integer', minimum: 1, maximum: 64 },
        memory_mb: { type: 'integer', minimum: 64, maximum: 262144 },
      },
    },
    services: { type: 'array', items: service },
    checks: { type: 'object', additionalProperties: check },
    restart: {
      type: 'object',
      additionalProperties: false,
      properties: {
        policy: { enum: ['no', 'on-failure', 'always'] },
        max_retries: { type: 'integer', minimum: 0 },
      },
    },
    auto_destroy: { type: 'boolean' },
    runtime: { enum: ['container', 'microvm'], description: 'nearby extension: container or microVM' },
    metadata: stringMap,
    files: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['guest_path'],
        properties: {
          guest_path: { type: 'string', pattern: '^/' },
          raw_value: { type: 'string' },
          secret_name: { type: 'string' },
          mode: { type: 'integer' },
        },
      },
    },
    stop_config: {
      type: 'object',
      additionalProperties: false,
      properties: { timeout: duration, signal: { type: 'string' } },
    },
    size: { type: 'string', description: 'a preset such as shared-cpu-1x; sets guest' },
    processes: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        properties: {
          name: { type: 'string' },
          exec: stringArray,
          entrypoint: stringArray,
          cmd: stringArray,
          env: stringMap,
          user: { type: 'string' },
        },
      },
    },
    schedule: { enum: ['hourly', 'daily', 'weekly', 'monthly'] },
    mounts: {
      type: 'array',
      maxItems: 8,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['path'],
        properties: {
          volume: { type: 'string', pattern: '^vol_[a-z0-9]{1,40}$' },
          path: { type: 'string', pattern: '^/.' },
          name: { type: 'string', pattern: '^[a-zA-Z0-9_]{1,30}$' },
          size_gb: { type: 'integer', minimum: 1, maximum: 500 },
        },
      },
    },
  },
} as const;

const appName = { type: 'string', pattern: '^[a-z][a-z0-9-]{1,62}$' } as const;
const machineIdParam = { type: 'string', pattern: '^[a-zA-Z0-9_-]{1,64}$' } as const;

export const appParams = {
  type: 'object',
  required: ['app'],
  properties: { app: appName },
} as const;

export const appMachineParams = {
  type: 'object',
  required: ['app', 'id'],
  properties: { app: appName, id: machineIdParam },
} as const;

const booleanQuery = { enum: ['true', 'false', '1', '0'] } as const;
const secondsQuery = { type: 'string', pattern: '^[0-9]+$' } as const;

export const listMachinesQuery = {
  type: 'object',
  properties: {
    include_deleted: booleanQuery,
    region: { type: 'string' },
    summary: booleanQuery,
  },
  patternProperties: { '^metadata\\.': { type: 'string' } },
} as const;

export const waitQuery = {
  type: 'object',
  properties: {
    state: { enum: ['started', 'stopped', 'suspended', 'destroyed'] },
    timeout: secondsQuery,
    instance_id: { type: 'string' },
    from_event_id: { type: 'string' },
  },
} as const;

/** Why a machine is started or stopped, for its events: the edge proxy says `request` or `idle`. */
export const actionReasonQuery = {
  type: 'object',
  properties: { reason: { enum: ['api', 'request', 'idle'] } },
} as const;
export type ActionReason = 'api' | 'request' | 'idle';

export const destroyQuery = {
  type: 'object',
  properties: { force: booleanQuery, kill: booleanQuery },
} as const;

export const restartQuery = {
  type: 'object',
  properties: {
    signal: { type: 'string', pattern: '^(SIG)?[A-Z0-9]+$' },
    timeout: { type: 'string' },
    force_stop: booleanQuery,
  },
} as const;

export const signalBody = {
  type: 'object',
  required: ['signal'],
  properties: { signal: { type: 'string', pattern: '^(SIG)?[A-Z0-9]+$' } },
} as const;

export const execBody = {
  type: 'object',
  properties: {
    command: { type: 'array', items: { type: 'string' }, minItems: 1 },
    cmd: { type: 'string', minLength: 1, description: 'a command line, split like a shell would' },
    timeout: { type: 'integer', minimum: 1, maximum: 60, description: 'seconds (default 30)' },
  },
} as const;

export const metadataParams = {
  type: 'object',
  required: ['app', 'id', 'key'],
  properties: {
    app: appName,
    id: machineIdParam,
    key: { type: 'string', pattern: '^[a-zA-Z0-9_.-]{1,64}$' },
  },
} as const;

export const metadataBody = {
  type: 'object',
  required: ['value'],
  properties: { value: { type: 'string', maxLength: 4096 } },
} as const;

export const secretName = { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]{0,127}$' } as const;

export const createAppSchema = {
  type: 'object',
  required: ['app_name'],
  properties: {
    app_name: { type: 'string' },
    org_slug: { type: 'string' },
    network: { type: 'string' },
  },
} as const;

export const createMachineSchema = {
  type: 'object',
  required: ['config'],
  properties: {
    config: machineConfigSchema,
    name: { type: 'string', pattern: '^[a-zA-Z0-9][a-zA-Z0-9_-]{0,62}$' },
    region: { type: 'string', pattern: '^[a-z0-9-]{2,32}$' },
    skip_launch: { type: 'boolean' },
    skip_service_registration: { type: 'boolean' },
    lease_ttl: { type: 'integer', minimum: 1, maximum: 3600 },
  },
} as const;

export const updateMachineSchema = {
  type: 'object',
  required: ['config'],
  properties: {
    config: machineConfigSchema,
    name: { type: 'string' },
    region: { type: 'string' },
    skip_launch: { type: 'boolean' },
    current_version: { type: 'string' },
  },
} as const;

export const stopMachineSchema = {
  anyOf: [
    { type: 'null' },
    {
      type: 'object',
      properties: { signal: { type: 'string', pattern: '^(SIG)?[A-Z0-9]+$' }, timeout: duration },
    },
  ],
} as const;
