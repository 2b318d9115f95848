"""The forecast task: loss, MAE/RMSE/MASE and direction accuracy."""
