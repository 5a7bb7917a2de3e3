"""Stage 3, training: the training loop (train), its execution plan and the probes'
measurement form (speed), the snapshot schedule (schedule), and the lag record of layer
moments taken while training runs (lag_record).

Imports: the ground floor, data, models.
"""
