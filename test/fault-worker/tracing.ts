import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  ExportResultCode,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import {
  BasicTracerProvider,
  ReadableSpan,
  SimpleSpanProcessor,
  SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import type { SpanEvent } from './protocol';

/**
 * Installs an OpenTelemetry SDK in the worker child (before its Nest app is
 * created, as the README asks) that prints every finished span as a `span`
 * event, for the tracing suite to check across processes.
 */
export function installTracing(
  print: (span: Omit<SpanEvent, 'instance' | 'pid'>) => void,
): void {
  const exporter: SpanExporter = {
    export(spans: ReadableSpan[], done): void {
      for (const span of spans) {
        print({
          event: 'span',
          name: span.name,
          kind: span.kind,
          traceId: span.spanContext().traceId,
          spanId: span.spanContext().spanId,
          parentSpanId: span.parentSpanContext?.spanId,
          links: span.links.map((link) => link.context.spanId),
          attributes: { ...span.attributes },
        });
      }
      done({ code: ExportResultCode.SUCCESS });
    },
    shutdown: () => Promise.resolve(),
  };
  context.setGlobalContextManager(
    new AsyncLocalStorageContextManager().enable(),
  );
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    }),
  );
}
