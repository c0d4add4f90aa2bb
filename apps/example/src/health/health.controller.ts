import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { UnderwayHealthIndicator } from '@underway/nestjs';

@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly underway: UnderwayHealthIndicator,
  ) {}

  /**
   * 200 while the database answers, the worker runs and listens, and no run
   * has waited more than a minute to start; 503 (with the reason) otherwise.
   */
  @Get()
  @HealthCheck()
  check() {
    return this.health.check([
      () => this.underway.isHealthy('underway', { maxOldestDueAge: '1m' }),
    ]);
  }
}
