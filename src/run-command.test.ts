import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCommand, spawnThroughHelper } from './run-command.ts';

const self = fileURLToPath(import.meta.url);

/** The same commands spawned here and through the helper answer alike. */
async function behaviour() {
  const echoed = await runCommand('sh', ['-c', 'cat; echo err >&2; exit 3'], { input: 'in\n' });
  const timedOut = await runCommand('sleep', ['5'], { timeoutMs: 100 });
  const aborted = new AbortController();
  const abortedRun = runCommand('sleep', ['5'], { signal: aborted.signal });
  setTimeout(() => aborted.abort(), 50);
  const missing = await runCommand('/nonexistent/command', []).then(
    () => 'ran',
    (error: NodeJS.ErrnoException) => error.code,
  );
  // A launcher that leaves a daemon behind, holding its stdout: answered when the launcher exits.
  const started = Date.now();
  const launcher = await runCommand('sh', ['-c', 'sleep 3 2>/dev/null & echo started >&2'], {
    detached: true,
    discardStdout: true,
  });
  const launcherMs = Date.now() - started;
  try {
    execFileSync('pkill', ['-f', '^sleep 3$']);
  } catch {} // gone already
  const inDir = await runCommand('pwd', [], { cwd: '/tmp' });
  return {
    echoed,
    timedOut: [timedOut.code, timedOut.signal],
    aborted: [(await abortedRun).code, (await abortedRun).signal],
    missing,
    launcher: [launcher.code, launcher.stderr, launcherMs < 2500],
    inDir: inDir.stdout,
  };
}

test('commands run the same spawned here or through the spawn helper', async () => {
  const here = await behaviour();
  assert.deepEqual(here.echoed, { stdout: 'in\n', stderr: 'err\n', code: 3, signal: null });
  assert.deepEqual(here.timedOut, [null, 'SIGKILL']);
  assert.deepEqual(here.aborted, [null, 'SIGKILL']);
  assert.equal(here.missing, 'ENOENT');
  assert.deepEqual(here.launcher, [0, 'started\n', true]);
  assert.equal(here.inDir, '/tmp\n');
  const parent = async () => Number((await runCommand('sh', ['-c', 'echo $PPID'])).stdout);
  assert.equal(await parent(), process.pid);
  spawnThroughHelper();
  assert.deepEqual(await behaviour(), here);
  // Spawned by the helper, not by this process.
  assert.notEqual(await parent(), process.pid);
});

test('the helper keeps no process alive: a script that used it exits when done', () => {
  const script = `
    import { runCommand, spawnThroughHelper } from ${JSON.stringify(self.replace(/\.test\.ts$/, '.ts'))};
    spawnThroughHelper();
    const { stdout } = await runCommand('echo', ['through the helper']);
    process.stdout.write(stdout);
  `;
  const output = execFileSync(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', '--input-type=module', '-e', script],
    { encoding: 'utf8', timeout: 10_000 },
  );
  assert.equal(output, 'through the helper\n');
});
