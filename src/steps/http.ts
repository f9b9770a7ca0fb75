/** `http`: a request to an endpoint of the target role (appliance APIs), with expected status/body. */
import { z } from 'zod';
import { textCapture, textMatch, type TextMatch } from '../core/schema-parts.js';
import { displayParts, materializeParts, type Part } from '../core/template.js';
import { captureText, checkText, clip, describeTextMatch, renderExpectations, resolveExpectations } from './expectations.js';
import type { StepKind } from './types.js';

interface HttpSpec extends Record<string, unknown> {
  method?: string;
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string;
  expect?: { status?: number | number[]; body?: TextMatch };
  capture?: { regex?: string };
}

type HttpData = {
  method: string;
  path: Part[];
  query: Array<{ name: string; value: Part[] }>;
  headers: Array<{ name: string; value: Part[] }>;
  body: Part[] | null;
  expect: { status: number[]; body: TextMatch | null };
  capture: { regex?: string | undefined } | null;
};

export const httpStep: StepKind<HttpSpec, HttpData> = {
  kind: 'http',
  summary: 'Send an HTTP(S) request to the endpoints of the target role and check status and body.',
  target: 'http',
  changes: true,
  checkable: true,
  fields: {
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD']).optional().describe('Default GET.'),
    path: z.string().min(1).describe('Path (and fixed query) appended to the endpoint URL, e.g. "/api/command".'),
    query: z.record(z.string(), z.string()).optional().describe('Query parameters (URL-encoded for you).'),
    headers: z.record(z.string(), z.string()).optional(),
    body: z.string().optional(),
    expect: z
      .object({
        status: z
          .union([z.number().int(), z.array(z.number().int()).min(1)])
          .optional()
          .describe('Default 200.'),
        body: textMatch.optional(),
      })
      .strict()
      .optional(),
    capture: textCapture.optional(),
  },
  plan(spec, render) {
    const data: HttpData = {
      method: spec.method ?? 'GET',
      path: render.parts(spec.path, 'url'),
      query: Object.entries(spec.query ?? {}).map(([name, value]) => ({ name, value: render.parts(value, 'text') })),
      headers: Object.entries(spec.headers ?? {}).map(([name, value]) => ({ name, value: render.parts(value, 'text') })),
      body: spec.body === undefined ? null : render.parts(spec.body, 'text'),
      expect: {
        status: [spec.expect?.status ?? 200].flat(),
        body: renderExpectations(spec.expect?.body ?? null, render),
      },
      capture: spec.capture ?? null,
    };
    return data;
  },
  describe(data) {
    const query = data.query.map((q) => `${q.name}=${displayParts(q.value)}`).join('&');
    const lines = [`${data.method} ${displayParts(data.path)}${query ? (displayParts(data.path).includes('?') ? '&' : '?') + query : ''}`];
    for (const h of data.headers) lines.push(`${h.name}: ${displayParts(h.value)}`);
    if (data.body) lines.push(`body: ${displayParts(data.body)}`);
    lines.push(`expect status ${data.expect.status.join(' or ')}`);
    return [...lines, ...describeTextMatch('body', resolveExpectations(data.expect.body, displayParts) ?? undefined)];
  },
  async run(data, ctx) {
    const started = Date.now();
    if (!ctx.target) throw new Error('http step without an endpoint target');
    const endpoint = await ctx.connections.http(ctx.target);
    const text = (parts: Part[]): string => materializeParts(parts, ctx.values);
    try {
      const response = await endpoint.request({
        method: data.method,
        path: text(data.path),
        query: Object.fromEntries(data.query.map((q) => [q.name, text(q.value)])),
        headers: Object.fromEntries(data.headers.map((h) => [h.name, text(h.value)])),
        body: data.body ? text(data.body) : undefined,
        timeoutMs: ctx.timeoutMs,
        signal: ctx.signal,
      });
      const base = { durationMs: Date.now() - started, httpStatus: response.status, body: response.body };
      ctx.onOutput('stdout', response.body);
      const failure =
        (data.expect.status.includes(response.status)
          ? undefined
          : `HTTP ${response.status}, expected ${data.expect.status.join(' or ')}`) ??
        checkText('body', resolveExpectations(data.expect.body, text) ?? undefined, response.body);
      if (failure) return { status: 'failed', message: failure, ...base };
      const value = data.capture ? captureText(data.capture.regex, response.body) : undefined;
      if (data.capture && value === undefined)
        return { status: 'failed', message: `capture /${data.capture.regex}/ found nothing in the body`, ...base };
      return { status: 'succeeded', message: `HTTP ${response.status}`, ...base, ...(value === undefined ? {} : { value }) };
    } catch (error) {
      const cancelled = ctx.signal.aborted;
      return {
        status: 'failed',
        message: cancelled ? 'cancelled' : clip((error as Error).message, 300),
        durationMs: Date.now() - started,
        cancelled,
      };
    }
  },
};
