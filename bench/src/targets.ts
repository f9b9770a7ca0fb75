/** The performance targets (issue "Performance, second round"), judged on one run's figures. */
import type { BenchResults, Target } from './results.js';

type Check = [name: string, value: number | null | undefined, op: '<=' | '>=', limit: number];

export function judgeTargets(r: BenchResults): Target[] {
  const rss200 = r.fanout?.rows[200]?.rss_mb.median;
  const marginal = r.fanout?.marginal_ms_per_host_step ?? {};
  // Linear: the marginal cost of a host from 50 to 200 is no more than 1.5 times that from 20 to 50.
  const linearity = marginal['50-200'] && marginal['20-50'] ? marginal['50-200'] / marginal['20-50'] : null;
  const checks: Check[] = [
    ['fan-out 20: runbook / OpenSSH mux (curve25519, set-up included)', r.fanout?.at20?.runbook_over_openssh_mux_curve25519, '<=', 0.8],
    ['fan-out 20: runbook / OpenSSH masters pre-opened', r.fanout?.at20?.runbook_over_openssh_preopened_curve25519, '<=', 1.3],
    ['fan-out 20: Ansible / runbook', r.fanout?.at20?.ansible_over_runbook, '>=', 12],
    ['fan-out 200 hosts: runbook peak RSS (MB)', rss200, '<=', 120],
    ['fan-out: marginal host cost 50-200 / 20-50', linearity, '<=', 1.5],
    ['SQL: ms per extra step (cache warm)', r.sql?.runbook_ms_per_step, '<=', 0.5],
    ['SQL: ms per extra step (cache cold)', r.sql?.runbook_ms_per_step_cache_cold, '<=', 0.5],
    ['runbook list, cache warm (ms)', r.cold?.list_ms, '<=', 150],
    ['runbook list, cache cold (ms)', r.cold?.list_cache_cold_ms, '<=', 300],
    ['largest dry-run, cache warm (ms)', r.cold?.dryrun_ms, '<=', 250],
  ];
  return checks.map(([name, value, op, limit]) => ({
    name,
    value: value === undefined || value === null ? null : Number(value.toFixed(3)),
    target: `${op} ${limit}`,
    met: value === undefined || value === null ? null : op === '<=' ? value <= limit : value >= limit,
  }));
}
