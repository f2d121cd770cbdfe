/** The live log tail, newest at the bottom, kept scrolled there while the reader is there. */
import { useEffect, useRef } from 'preact/hooks';
import type { LogLine } from '../types.ts';

export function LogTail({ lines }: { lines: LogLine[] }) {
  const box = useRef<HTMLPreElement>(null);
  useEffect(() => {
    const element = box.current;
    if (element && element.scrollHeight - element.scrollTop - element.clientHeight < 80)
      element.scrollTop = element.scrollHeight;
  }, [lines]);
  return (
    <section>
      <h2>Logs</h2>
      <pre class="logs" ref={box}>
        {lines.length === 0 && <span class="muted">No log lines yet.</span>}
        {lines.map((line, index) => (
          <div key={index} class={line.stream}>
            <span class="muted">{line.timestamp.slice(11, 23)}</span> {line.machine} {line.region}{' '}
            {line.message}
          </div>
        ))}
      </pre>
    </section>
  );
}
