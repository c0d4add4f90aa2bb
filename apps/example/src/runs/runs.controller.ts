import { Controller, Get, NotFoundException, Param } from '@nestjs/common';
import { RunDetails, WorkflowClient } from '@underway/nestjs';

@Controller('runs')
export class RunsController {
  constructor(private readonly workflows: WorkflowClient) {}

  /** A run's state, current step and every attempt with its error. */
  @Get(':id')
  async get(@Param('id') id: string): Promise<RunDetails> {
    const run = await this.workflows.getRun(id);
    if (!run) {
      throw new NotFoundException(`No run with id ${id}`);
    }
    return run;
  }
}
