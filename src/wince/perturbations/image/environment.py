"""Environment: haze / fog, partial occlusion."""
