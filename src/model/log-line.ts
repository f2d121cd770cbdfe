/** One line of a machine's output, as it travels on the log stream `logs.<app>.<region>.<machine>`. */
export interface LogLine {
  timestamp: string;
  machine: string;
  region: string;
  stream: 'stdout' | 'stderr';
  message: string;
}
