/**
 * Events of the run's stream (engine/events.ts) about a detached step's program on a target (see
 * detached.ts): started apart from the session, left running (Ctrl-C, timeout, lost connection, prompt), re-attached, killed by the
 * operator. The journal keeps them; resume and attach find the program again through them.
 */
export type DetachedEvent =
  | { type: 'detached-started'; stepId: string; target: string | null; pid: number; dir: string }
  | { type: 'detached-progress'; stepId: string; target: string | null; offset: number }
  | {
      type: 'detached-left';
      stepId: string;
      target: string | null;
      reason: 'interrupted' | 'timeout' | 'connection' | 'prompt';
      offset: number;
      prompt?: string;
      message: string;
    }
  | { type: 'detached-reattached'; stepId: string; target: string | null; offset: number }
  | { type: 'detached-killed'; stepId: string; target: string | null; pid: number; dir: string; message: string };
