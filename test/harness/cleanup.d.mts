/** Types of cleanup.mjs (the harness's cleanup rules, shared with the reaper). */

export declare const HARNESS_ROOT: string;
export declare const PORTS_DIR: string;
export declare const REGISTRY_DIR: string;

/**
 * A process as the cleanup knows it: pid numbers are reused (pid_max is 32768 here), so a pid is
 * only killed while its start time is still the one recorded.
 */
export interface ProcessIdentity {
  pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot). */
  start: string;
}

/**
 * A mount namespace as the cleanup knows it: "mnt:[inode]" numbers are reused as soon as a
 * namespace dies, so a process in it is only killed when its mount table also shows `mark`, a
 * path mounted in that namespace only (see sshd.ts).
 */
export interface NamespaceIdentity {
  ns: string;
  mark: string;
}

export interface CleanupEntry {
  /** Kill these processes (SIGKILL) if they are still the same processes. */
  processes?: ProcessIdentity[];
  /** Kill every process of these mount namespaces whose mount table shows the mark. */
  mountNamespaces?: NamespaceIdentity[];
  /** PostgreSQL data dirs: SIGQUIT the postmaster named in postmaster.pid. */
  pgDataDirs?: string[];
  /** Directories to remove. */
  dirs?: string[];
  /** Port reservations to release. */
  ports?: Array<[string, number]>;
}

export declare function isAlive(pid: number): boolean;
export declare function sleepSync(ms: number): void;
export declare function processStartTime(pid: number): string | undefined;
export declare function pidsInMountNamespace(ns: string): number[];
export declare function releasePort(address: string, port: number, force?: boolean): void;
export declare function runCleanupSync(entry: CleanupEntry, forcePorts?: boolean): void;
export declare function reapRegistry(select: (owner: number) => boolean): void;
