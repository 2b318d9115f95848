@problemName toy
@targetLabel true
@data
1,2,3:abc
4,5,6:1.5
