import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { HealthController } from './health.controller';

/** `GET /health`, for a load balancer or Kubernetes probes (@nestjs/terminus). */
@Module({
  imports: [TerminusModule],
  controllers: [HealthController],
})
export class HealthModule {}
