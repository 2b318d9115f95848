@problemName toy
@classLabel true a b
1,2,3:a
@data
1,2,3:b
