import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/**
 * A rendered receipt. Written by the transactional `renderReceipt` step
 * through `ctx.manager`: the row and the run's move to `emailReceipt` commit
 * together, so a crash never leaves a receipt without its next step, nor
 * renders one twice.
 */
@Entity({ name: 'app_receipt' })
export class Receipt {
  @PrimaryColumn()
  id!: string;

  @Column({ type: 'integer', unique: true })
  orderId!: number;

  @CreateDateColumn({ type: 'timestamptz' })
  renderedAt!: Date;
}
