/** pgpass (the ~/.pgpass reader pg itself uses) ships no types. */
declare module 'pgpass' {
  interface ConnInfo {
    host: string;
    port: number;
    database: string;
    user: string;
  }
  /** Calls back with the password of the first matching line of PGPASSFILE or ~/.pgpass, if any. */
  export default function pgPass(connInfo: ConnInfo, callback: (password: string | undefined) => void): void;
}
