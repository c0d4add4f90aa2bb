import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  PrimaryGeneratedColumn,
} from 'typeorm';

/**
 * Where an order stands with its approval:
 *
 * - `not_required`: under the threshold when it was placed;
 * - `awaiting`: its run waits for a decision (`POST /orders/:id/approval`);
 * - `escalated`: nobody decided in time, a manager was notified, and the run
 *   waits on for a decision;
 * - `approved`, `rejected`: decided, by `decidedBy`.
 */
export type OrderApproval =
  'not_required' | 'awaiting' | 'escalated' | 'approved' | 'rejected';

/** The four-eyes rule: nobody decides on their own order. */
export const FOUR_EYES_CHECK = 'CHK_app_order_four_eyes';

@Entity({ name: 'app_order' })
@Check(FOUR_EYES_CHECK, '"decidedBy" IS NULL OR "decidedBy" <> "customerEmail"')
export class Order {
  @PrimaryGeneratedColumn()
  id!: number;

  @Column()
  customerEmail!: string;

  @Column()
  item!: string;

  @Column({ type: 'integer' })
  amountCents!: number;

  @Column({ type: 'varchar', length: 20, default: 'not_required' })
  approval!: OrderApproval;

  /** Who approved or rejected it (an email address). */
  @Column({ type: 'varchar', nullable: true })
  decidedBy!: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  decidedAt!: Date | null;

  /** When it escalated, having waited `ORDER_APPROVAL_TIMEOUT` for a decision. */
  @Column({ type: 'timestamptz', nullable: true })
  escalatedAt!: Date | null;

  /** Set once the receipt has been emailed. */
  @Column({ type: 'varchar', nullable: true })
  receiptId!: string | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;
}
