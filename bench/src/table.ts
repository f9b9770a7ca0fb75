/** The figures of one run as a plain-text table on stdout. */
import { STEPS } from './context.js';
import type { SecondsSpread } from './measure.js';
import type { BenchResults } from './results.js';
import { TOOLS } from './workloads/fanout.js';

const pad = (s: unknown, width: number): string => String(s ?? '-').padEnd(width);
const range = (v: SecondsSpread | undefined): string =>
  v && v.median_s !== null ? `${v.median_s.toFixed(3)} (${v.min_s?.toFixed(3)}-${v.max_s?.toFixed(3)}, n=${v.n})` : '-';

function fanOutLines(r: BenchResults): string[] {
  const f = r.fanout;
  if (!f) return [];
  const out = ['', `Fan-out: ${STEPS} steps of \`true\` on N hosts, whole process, seconds: median (min-max, n)`];
  out.push(`${pad('hosts', 6)}${TOOLS.map((t) => pad(t, 30)).join('')}runbook peak RSS MB`);
  for (const n of f.host_counts) {
    const row = f.rows[n]!;
    out.push(`${pad(n, 6)}${TOOLS.map((t) => pad(range(row.tools[t]), 30)).join('')}${row.rss_mb.median}`);
  }
  out.push(
    `key exchange: ${Object.entries(f.key_exchange)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  if (f.at20)
    out.push(
      `ratios at 20 hosts: ${Object.entries(f.at20)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
  out.push(
    `marginal ms per host per step: ${Object.entries(f.marginal_ms_per_host_step)
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ')}`,
  );
  return out;
}

function sqlLines(r: BenchResults): string[] {
  const s = r.sql;
  if (!s) return [];
  const out = ['', 'SQL: seconds, median (min-max, n)'];
  for (const [k, v] of Object.entries(s.detail)) out.push(`  ${pad(k, 24)}${range(v)}`);
  out.push(
    `  per extra step: runbook ${s.runbook_ms_per_step} ms (cache cold ${s.runbook_ms_per_step_cache_cold} ms), psql ${s.psql_ms_per_statement} ms`,
  );
  if (s.breakdown) {
    out.push(
      `  breakdown: journal on tmpfs ${s.breakdown.journal_on_tmpfs_ms_per_step} ms/step; dry-run (load, validate, plan) ${s.breakdown.dryrun_ms_per_step} ms/step`,
    );
  }
  return out;
}

function coldLines(r: BenchResults): string[] {
  const c = r.cold;
  if (!c) return [];
  const names: Record<string, string> = {
    node: 'node -e 0',
    version: 'runbook --version',
    list: `runbook list (${c.list_count} runbooks, ${Math.round(c.list_bytes / 1024)} KiB of YAML)`,
    dryrun: c.dryrun_command,
    list_cache_cold: 'runbook list, RUNBOOK_NO_CACHE=1 (first start after an edit)',
    dryrun_cache_cold: 'the dry-run, RUNBOOK_NO_CACHE=1',
  };
  return [
    '',
    'Cold start, ms: median (min-max, n)',
    ...Object.entries(names).map(([k, label]) => {
      const v = c.detail[k]!;
      return `  ${pad(label, 78)}${v.median_ms} (${v.min_ms}-${v.max_ms}, n=${v.n})`;
    }),
  ];
}

export function formatTable(r: BenchResults): string {
  const m = r.machine;
  const disk = Object.entries(r.disk)
    .map(([k, v]) => `${k} ${v.fsync_ms} ms`)
    .join(', ');
  const out = [
    '',
    `runbook benchmark, ${r.date}${r.quick ? ' (--quick: figures not comparable)' : ''}, commit ${m.git_commit}${m.git_dirty ? ' (dirty)' : ''}`,
    `${m.cpu} x${m.cores}, ${m.memory_gb} GB, ${m.distro}, node ${m.node}; load ${m.load_avg_at_start.join('/')} at start, ${m.load_avg_at_end?.join('/')} at end`,
    `one fsync of an appended line (${Object.values(r.disk)[0]?.filesystem}): ${disk}`,
    ...fanOutLines(r),
    ...sqlLines(r),
    ...coldLines(r),
    '',
    'Targets',
    ...(r.targets ?? []).map(
      (t) =>
        `  ${t.met === null ? 'not run' : t.met ? 'met    ' : 'MISSED '} ${pad(t.name, 64)} ${String(t.value ?? '-').padStart(8)}  (target ${t.target})`,
    ),
  ];
  if (r.profile) {
    out.push('', 'CPU profile (self time by module, top 5)');
    for (const [name, p] of Object.entries(r.profile)) {
      out.push(
        `  ${pad(name, 9)} wall ${p.wall_s}s cpu ${p.cpu_s}s: ${p.by_module
          .slice(0, 5)
          .map((x) => `${x.name} ${x.ms}ms`)
          .join(', ')}`,
      );
    }
  }
  out.push('', `total bench time ${r.duration_s}s`);
  return out.join('\n');
}
