/**
 * QEMU for one microVM: its command line (`-M microvm`, virtio-mmio devices, virtio-serial ports
 * for the guest's stdout/stderr/exit status/control) and a minimal QMP client (pause, resume, quit).
 */
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { QEMU_BIN } from './host.ts';

export interface VmFiles {
  kernelLog: string;
  initramfs: string;
  disk: string;
  guestExit: string;
  ctlSocket: string;
  qmpSocket: string;
  paused: string;
}

export function vmFiles(dir: string): VmFiles {
  return {
    kernelLog: join(dir, 'kernel.log'),
    initramfs: join(dir, 'initramfs.cpio'),
    disk: join(dir, 'disk.qcow2'),
    guestExit: join(dir, 'guest-exit.json'),
    ctlSocket: join(dir, 'ctl.sock'),
    qmpSocket: join(dir, 'qmp.sock'),
    paused: join(dir, 'paused'),
  };
}

export interface QemuLaunch {
  files: VmFiles;
  pidFile: string;
  kernel: string;
  accel: 'kvm' | 'tcg';
  kernelArgs: string[];
  cpus: number;
  memoryMb: number;
  tap: string;
  mac: string;
}

export function qemuArgs(launch: QemuLaunch): string[] {
  const { files } = launch;
  const port = (id: string, name: string, backend: string) => [
    ...['-chardev', `${backend},id=${id}`],
    ...['-device', `virtserialport,chardev=${id},name=${name}`],
  ];
  return [
    QEMU_BIN,
    ...['-M', 'microvm', '-accel', launch.accel, '-cpu', launch.accel === 'kvm' ? 'host' : 'max'],
    ...['-m', `${launch.memoryMb}M`, '-smp', String(launch.cpus)],
    ...['-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot'],
    ...['-kernel', launch.kernel, '-initrd', files.initramfs],
    ...['-append', ['console=ttyS0', 'quiet', 'panic=-1', ...launch.kernelArgs].join(' ')],
    ...['-serial', `file:${files.kernelLog}`],
    ...[
      '-drive',
      `id=root,file=${files.disk},format=qcow2,if=none`,
      '-device',
      'virtio-blk-device,drive=root',
    ],
    ...['-netdev', `tap,id=net0,ifname=${launch.tap},script=no,downscript=no`],
    ...['-device', `virtio-net-device,netdev=net0,mac=${launch.mac}`],
    ...['-device', 'virtio-serial-device'],
    // fds 1 and 2 are the shim's pipes: it writes what arrives there to the CRI log.
    ...port('out', 'nearby.stdout', 'file,path=/proc/self/fd/1'),
    ...port('err', 'nearby.stderr', 'file,path=/proc/self/fd/2'),
    ...port('status', 'nearby.status', `file,path=${files.guestExit}`),
    ...port('ctl', 'nearby.ctl', `socket,path=${files.ctlSocket},server=on,wait=off`),
    ...['-qmp', `unix:${files.qmpSocket},server=on,wait=off`],
    ...['-daemonize', '-pidfile', launch.pidFile],
  ];
}

/** Sends one QMP command (after the capabilities handshake) and resolves with its `return`. */
export function qmp(socket: string, command: string, timeoutMs = 10_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const conn = createConnection(socket);
    let buffer = '';
    let step = 0;
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new Error(`QMP ${command}: no answer in ${timeoutMs} ms`));
    }, timeoutMs);
    const finish = (error: Error | undefined, value?: unknown) => {
      clearTimeout(timer);
      conn.end();
      if (error) reject(error);
      else resolve(value);
    };
    conn.on('error', (error) => finish(error));
    conn.on('data', (chunk) => {
      buffer += chunk.toString();
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const message = JSON.parse(buffer.slice(0, nl)) as {
          QMP?: unknown;
          return?: unknown;
          error?: { desc: string };
        };
        buffer = buffer.slice(nl + 1);
        if (message.error) return finish(new Error(`QMP ${command}: ${message.error.desc}`));
        if (message.QMP && step === 0) {
          step = 1;
          conn.write('{"execute":"qmp_capabilities"}\n');
        } else if ('return' in message && step === 1) {
          step = 2;
          conn.write(`${JSON.stringify({ execute: command })}\n`);
        } else if ('return' in message && step === 2) {
          return finish(undefined, message.return);
        }
      }
    });
    // `quit` may close the socket before answering: that is its answer.
    conn.on('close', () =>
      finish(step === 2 && command === 'quit' ? undefined : new Error(`QMP ${command}: closed`)),
    );
  });
}
