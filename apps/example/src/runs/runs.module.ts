import { Module } from '@nestjs/common';
import { RunsController } from './runs.controller';

/** `WorkflowClient` comes from the global `UnderwayModule`. */
@Module({
  controllers: [RunsController],
})
export class RunsModule {}
