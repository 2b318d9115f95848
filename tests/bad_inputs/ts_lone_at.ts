@problemName toy
@
@classLabel true a b
@data
1,2:a
3,4:b
