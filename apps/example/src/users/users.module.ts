import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { SignupMetrics } from './signup-metrics.service';
import { SignupWorkflow } from './signup.workflow';
import { User } from './user.entity';
import { UsersController } from './users.controller';
import { UsersService } from './users.service';

@Module({
  imports: [TypeOrmModule.forFeature([User])],
  controllers: [UsersController],
  providers: [UsersService, SignupMetrics, SignupWorkflow],
  exports: [UsersService],
})
export class UsersModule {}
