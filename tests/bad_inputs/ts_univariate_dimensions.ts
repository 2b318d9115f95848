@problemName toy
@univariate true
@dimensions 3
@classLabel true a b
@data
1,2:a
