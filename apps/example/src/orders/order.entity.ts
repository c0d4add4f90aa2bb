import {
  Column,
  CreateDateColumn,
  Entity,
  PrimaryGeneratedColumn,
} from 'typeorm';

@Entity({ name: 'app_order' })
export class Order {
  @PrimaryGeneratedColumn()
  id!: number;

  @Column()
  customerEmail!: string;

  @Column()
  item!: string;

  @Column({ type: 'integer' })
  amountCents!: number;

  /** Set once the receipt has been emailed. */
  @Column({ type: 'varchar', nullable: true })
  receiptId!: string | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;
}
