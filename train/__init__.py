"""Training DiffChat: InstructPE data, SFT, reward models, PPO with ADM and VCI."""
