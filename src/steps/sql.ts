/** `sql`: statements or a query on a database; values are bind parameters, never spliced. */
import { z } from 'zod';
import { scalar } from '../core/schema-parts.js';
import { displayParts, materializeBinds, materializeParts, type RenderedSql } from '../core/template.js';
import { clip, renderExpectations, resolveExpectations } from './expectations.js';
import type { ActionResult, StepKind } from './types.js';

interface SqlExpect {
  rows?: number;
  minRows?: number;
  maxRows?: number;
  rowCount?: number;
  firstRow?: Record<string, string | number | boolean>;
}

interface SqlSpec extends Record<string, unknown> {
  sql: string | string[];
  transaction?: boolean;
  expect?: SqlExpect;
  capture?: { column: string };
}

export type SqlData = {
  statements: RenderedSql[];
  transaction: boolean;
  expect: SqlExpect | null;
  capture: { column: string } | null;
};

export const sqlStep: StepKind<SqlSpec, SqlData> = {
  kind: 'sql',
  summary: 'Run SQL statements (one transaction) or a query on the databases of the target role.',
  target: 'database',
  changes: true,
  checkable: true,
  fields: {
    sql: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
      .describe('One statement, or a list run in order. {{ }} values become bind parameters ($1, $2...).'),
    transaction: z.boolean().optional().describe('Run all statements in one transaction (default: true).'),
    expect: z
      .object({
        rows: z.number().int().nonnegative().optional().describe('Exact number of rows returned by the last statement.'),
        minRows: z.number().int().nonnegative().optional(),
        maxRows: z.number().int().nonnegative().optional(),
        rowCount: z.number().int().nonnegative().optional().describe('Rows affected by the last statement.'),
        firstRow: z.record(z.string(), scalar).optional().describe('Column values of the first row.'),
      })
      .strict()
      .optional(),
    capture: z.object({ column: z.string() }).strict().optional().describe('Keep this column of the first row.'),
  },
  plan(spec, render) {
    const sources = Array.isArray(spec.sql) ? spec.sql : [spec.sql];
    const data: SqlData = {
      statements: sources.map((s) => render.sql(s.trim())),
      transaction: spec.transaction ?? true,
      expect: renderExpectations(spec.expect ?? null, render),
      capture: spec.capture ?? null,
    };
    return data;
  },
  describe(data) {
    const lines: string[] = [];
    if (data.transaction && data.statements.length > 1) lines.push('BEGIN;');
    for (const s of data.statements) {
      lines.push(`${s.text.replace(/;?\s*$/, ';')}`);
      if (s.binds.length) {
        const shown = s.binds.map((b, i) => `$${i + 1} = ${'value' in b ? JSON.stringify(b.value) : 'secret' in b ? '***' : `<${b.ref}>`}`);
        lines.push(`  -- binds: ${shown.join(', ')}`);
      }
    }
    if (data.transaction && data.statements.length > 1) lines.push('COMMIT;');
    for (const [how, value] of Object.entries(resolveExpectations(data.expect ?? {}, displayParts)))
      lines.push(`expect ${how} ${JSON.stringify(value)}`);
    return lines;
  },
  async run(data, ctx) {
    const started = Date.now();
    if (!ctx.target) throw new Error('sql step without a database target');
    const db = await ctx.connections.sql(ctx.target);
    try {
      const result = await db.query(
        data.statements.map((s) => ({ text: s.text, values: materializeBinds(s.binds, ctx.values) })),
        { transaction: data.transaction, timeoutMs: ctx.timeoutMs, signal: ctx.signal },
      );
      const base = { durationMs: Date.now() - started, rows: result.rows, rowCount: result.rowCount };
      const failure = checkRows(
        resolveExpectations(data.expect, (p) => materializeParts(p, ctx.values)),
        result.rows,
        result.rowCount,
      );
      if (failure) return { status: 'failed', message: failure, ...base };
      let value: ActionResult['value'];
      if (data.capture) {
        const cell = result.rows[0]?.[data.capture.column];
        if (cell === undefined) return { status: 'failed', message: `no column "${data.capture.column}" in the first row`, ...base };
        value = typeof cell === 'number' || typeof cell === 'boolean' ? cell : String(cell);
      }
      const message = `${result.command} ${result.rowCount ?? result.rows.length}`.trim();
      return { status: 'succeeded', message, ...base, ...(value === undefined ? {} : { value }) };
    } catch (error) {
      const err = error as Error & { code?: string; detail?: string };
      if (ctx.signal.aborted) return { status: 'failed', message: 'cancelled', cancelled: true, durationMs: Date.now() - started };
      const timedOut = err.code === '57014';
      const code = err.code ? ` [SQLSTATE ${err.code}]` : '';
      return {
        status: 'failed',
        message: `${clip(err.message, 300)}${code}${data.transaction ? ' (transaction rolled back)' : ''}`,
        durationMs: Date.now() - started,
        timedOut,
      };
    }
  },
};

function checkRows(expect: SqlExpect | null, rows: Array<Record<string, unknown>>, rowCount: number | null): string | undefined {
  if (!expect) return undefined;
  if (expect.rows !== undefined && rows.length !== expect.rows) return `${rows.length} row(s) returned, expected ${expect.rows}`;
  if (expect.minRows !== undefined && rows.length < expect.minRows) return `${rows.length} row(s), expected at least ${expect.minRows}`;
  if (expect.maxRows !== undefined && rows.length > expect.maxRows) return `${rows.length} row(s), expected at most ${expect.maxRows}`;
  if (expect.rowCount !== undefined && rowCount !== expect.rowCount) return `${rowCount ?? 0} row(s) affected, expected ${expect.rowCount}`;
  if (expect.firstRow) {
    const first = rows[0];
    if (!first) return 'no row returned, expected one';
    for (const [column, wanted] of Object.entries(expect.firstRow)) {
      const actual = first[column];
      if (String(actual) !== String(wanted)) return `column ${column} is ${JSON.stringify(actual)}, expected ${JSON.stringify(wanted)}`;
    }
  }
  return undefined;
}
