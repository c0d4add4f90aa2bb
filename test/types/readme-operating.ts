/**
 * The examples of docs/health.md and docs/observability.md (the README's
 * "Operating it" and "Observability" sections before they moved there),
 * compiled by `npm run typecheck` so they cannot drift from the API.
 */
import { Controller, Get, Module } from '@nestjs/common';
import {
  HealthCheck,
  HealthCheckService,
  TerminusModule,
} from '@nestjs/terminus';
import { metrics } from '@opentelemetry/api';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import {
  ConsoleMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  BatchSpanProcessor,
  NodeTracerProvider,
} from '@opentelemetry/sdk-trace-node';
import {
  UnderwayHealthDetails,
  UnderwayHealthIndicator,
  UnderwayHealthOptions,
} from '@underway/nestjs';

// --- Health: UnderwayHealthIndicator ----------------------------------------
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly underway: UnderwayHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([
      () => this.underway.isHealthy('underway', { maxOldestDueAge: '5m' }),
    ]);
  }
}

@Module({ imports: [TerminusModule], controllers: [HealthController] })
export class HealthModule {}

export async function readDetails(
  indicator: UnderwayHealthIndicator,
): Promise<UnderwayHealthDetails> {
  const options: UnderwayHealthOptions = { timeout: '500ms' };
  const result = await indicator.isHealthy('queue', options);
  // @ts-expect-error the result is keyed by the key given
  void result.underway;
  return result.queue;
}

// --- Observability: metrics ---------------------------------------------------
export function startMetrics(): void {
  metrics.setGlobalMeterProvider(
    new MeterProvider({
      readers: [
        new PeriodicExportingMetricReader({
          exporter: new ConsoleMetricExporter(), // or new OTLPMetricExporter() (@opentelemetry/exporter-metrics-otlp-http)
          exportIntervalMillis: 15_000,
        }),
      ],
    }),
  );
}

// --- Observability: the SDK setup (traces and metrics) -----------------------
export function startTelemetry(): () => Promise<void> {
  const tracerProvider = new NodeTracerProvider({
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  tracerProvider.register();

  const meterProvider = new MeterProvider({
    readers: [
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter(),
        exportIntervalMillis: 15_000,
      }),
    ],
  });
  metrics.setGlobalMeterProvider(meterProvider);

  return async function shutdownTelemetry(): Promise<void> {
    await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]);
  };
}
